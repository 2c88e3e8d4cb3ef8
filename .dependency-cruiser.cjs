// The layer rule, executable: which folder under src/ may import which.
// docs/architecture.md ("Layers") says the same in prose; change both together.
//
// LAYERS is the order, lowest first. A folder may import its own folder and
// any folder in an earlier entry; folders that share an entry are siblings
// and may not import each other. An import that runs up (or sideways between
// siblings) fails `npm run lint`, and so does:
//   - production code importing a simulation twin (src/sim/, the in-memory
//     store and network),
//   - protocol code importing an I/O implementation or any npm package,
//   - the HTTP front ends (api/, s3/) talking to other nodes themselves,
//   - a cycle between modules.
// Type-only imports count: a type is a dependency on what defines it.

/** Lowest first. */
const LAYERS = [
  ['util'], // runtime interfaces (Clock, Random, Timer), hashing, assertions
  ['version'], // dotted version vectors, sibling sets, contexts
  ['ring'], // partitions, ownership, preference lists
  ['store'], // the replica/hint store interfaces, their LMDB implementation and in-memory twin
  ['transport'], // the wire vocabulary, the Transport interface, gRPC and in-memory networks
  ['membership'], // SWIM failure detection
  ['handoff', 'antientropy'], // hinted handoff; Merkle anti-entropy and tombstone collection
  ['layout'], // layout versions and moving data between them (pure core; not yet wired into the data path)
  ['coordinator'], // a request's life: fan-out, quorum, reconciliation, read repair
  ['raft'], // Raft consensus, a pure state machine (every node runs it through control/driver.ts)
  ['control'], // the control state machine on Raft (layout, buckets, users, keys, tokens) and its driver
  ['components'], // the composition root: one node's component graph from its parts
  ['auth'], // users, access keys, API and admin tokens over the control plane; SigV4; secrets sealed at rest
  ['api'], // HTTP plumbing and the native JSON API
  ['s3'], // the S3 API (uses api's HTTP plumbing)
  ['files'], // the public gRPC file API and the /users routes (over the S3 object model)
  ['node'], // wiring real parts into a process; the dev cluster of processes; the LMDB Raft log
  ['bench'], // load, convergence, detection and search benchmarks against a dev cluster
  ['cli'], // the `ringstore` command (runs bench), and `ringstore shell`
];

/** Deterministic protocol folders: no clock, network, randomness or disk (eslint checks the globals). */
const PROTOCOL = ['ring', 'version', 'membership', 'handoff', 'antientropy', 'layout', 'coordinator', 'raft', 'control', 'components'];

/** The simulator may run every layer up to here (protocol, store, transport), never the process shell above. */
const SIM_MAY_IMPORT = LAYERS.slice(0, LAYERS.findIndex((l) => l.includes('components')) + 1).flat();

/** Modules that do I/O (disk, sockets, protobuf loading): the shell around protocol code. */
const IO_MODULES = [
  '^src/store/(lmdb-store|lmdb-[^/]+|blobs)[.]ts$',
  '^src/transport/(grpc|grpc-[^/]+|bulk|codec)[.]ts$',
  '^src/transport/generated/',
];

/** Simulation twins: only the simulator and the tests may use them. */
const TWINS = ['^src/sim/', '^src/store/memory-store[.]ts$', '^src/transport/memory[.]ts$'];

/**
 * Known violations, each fixed on another branch of issue 8 ("A codebase
 * engineers would hold up", item 1). The integrator deletes an entry once its
 * fix is merged; nothing else belongs here.
 */
const KNOWN_EXCEPTIONS = {
  /** One file's one upward import each: the file's other imports are still checked. */
  upward: [],
  apiNetwork: [],
};

const alt = (names) => `(${names.join('|')})`;

const layerRules = LAYERS.map((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  const siblings = layer.length > 1 ? layer : [];
  return layer.map((folder) => {
    const forbidden = [...above, ...siblings.filter((s) => s !== folder)];
    if (forbidden.length === 0) return [];
    const rule = (name, from, to) => ({
      name,
      severity: 'error',
      comment: `${folder}/ may import only lower layers (docs/architecture.md, "Layers"); this import runs up or sideways`,
      from,
      to,
    });
    const excepted = KNOWN_EXCEPTIONS.upward.filter((e) => e.from.startsWith(`^src/${folder}/`));
    return [
      rule(`layer-${folder}`, { path: `^src/${folder}/`, ...(excepted.length > 0 ? { pathNot: excepted.map((e) => e.from) } : {}) }, { path: `^src/${alt(forbidden)}/` }),
      ...excepted.map((e) => rule(`layer-${folder}`, { path: e.from }, { path: `^src/${alt(forbidden)}/`, pathNot: e.to })),
    ];
  });
}).flat(2);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'sim-stays-below-the-shell',
      severity: 'error',
      comment: 'the simulator runs the protocol layers with twins; it must not pull in the process shell (api, s3, node, cli, bench)',
      from: { path: '^src/sim/' },
      to: { path: '^src/', pathNot: `^src/${alt(['sim', ...SIM_MAY_IMPORT])}/` },
    },
    {
      name: 'no-twins-in-production',
      severity: 'error',
      comment: 'production code must not import a simulation twin (src/sim/, memory-store, transport/memory)',
      from: { path: '^src/', pathNot: TWINS },
      to: { path: TWINS },
    },
    {
      name: 'twins-do-no-io',
      severity: 'error',
      comment: 'a simulation twin stands in for I/O; loading the real thing (gRPC, protobuf, LMDB) would make the simulator depend on it',
      from: { path: TWINS },
      to: { path: IO_MODULES },
    },
    {
      name: 'protocol-does-no-io',
      severity: 'error',
      comment: 'protocol code receives I/O through injected interfaces (Clock, Random, Transport, store); it may not import an I/O implementation',
      from: { path: `^src/${alt(PROTOCOL)}/` },
      to: { path: IO_MODULES },
    },
    {
      name: 'protocol-imports-no-packages',
      severity: 'error',
      comment: 'protocol code depends on nothing outside src/ (node built-ins and npm packages are I/O or belong in the shell)',
      from: { path: `^src/${alt(PROTOCOL)}/` },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'api-holds-no-protocol',
      severity: 'error',
      comment: 'the HTTP front ends translate and validate; talking to other nodes belongs to the coordinator',
      from: { path: '^src/(api|s3)/', pathNot: KNOWN_EXCEPTIONS.apiNetwork },
      to: { path: '^src/transport/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'modules that import each other cannot be understood, tested or layered one at a time',
      from: { path: '^src/', pathNot: '^src/transport/generated/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that does not resolve would slip past every rule above',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
  },
};
