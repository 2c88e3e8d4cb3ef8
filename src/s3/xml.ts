// XML in and out (fast-xml-parser). Output objects use the S3 element names;
// arrays become repeated elements; attributes are '@_'-prefixed keys.
//
// Request bodies are read as XML 1.0 says (§4.1 references, §2.7 CDATA,
// Namespaces in XML for prefixes), because clients write them in every
// legal form: Go's encoding/xml escapes the quotes around ETags as `&#34;`,
// others pretty-print or prefix elements. A document type declaration is
// refused outright: S3 bodies never need one, and with it come entity
// expansion and external entities (XXE). Anything not well-formed is
// MalformedXML, never a crash or a silent misparse.

import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors.js';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false, suppressBooleanAttributes: false });

/** Renders `{ Root: {...} }` with the XML declaration; adds the S3 namespace to the root when `ns`. */
export function toXml(root: string, body: Record<string, unknown>, ns = true): string {
  const el = ns ? { '@_xmlns': S3_XMLNS, ...body } : body;
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, [root]: el }) as string;
}

/** Elements that may repeat, read as arrays even when they occur once. */
const ARRAYS = new Set(['Part', 'Object', 'Grant']);
/** The five predefined entities of XML 1.0 §4.6; nothing else is named without a DTD. */
const XML_ENTITIES = { amp: '&', lt: '<', gt: '>', apos: "'", quot: '"' };
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  removeNSPrefix: true,
  // Also resolves numeric character references (&#34; &#x22;), which are XML; the HTML names it
  // would also accept never reach it (checkMarkup refuses every name but the predefined five).
  htmlEntities: true,
  isArray: (name) => ARRAYS.has(name),
});

const malformed = (why: string): S3Error => new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${why}`);

/** XML 1.0 §2.2 Char: what a character reference may name. */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/**
 * The checks the parser does not make: no DOCTYPE (so no entity
 * declarations, internal or external), and every reference outside CDATA
 * is a predefined entity or a character reference to a legal character.
 */
function checkMarkup(text: string): void {
  const outsideCdata = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  if (/<!DOCTYPE/i.test(outsideCdata) || /<!ENTITY/i.test(outsideCdata)) throw malformed('a document type declaration (DOCTYPE, ENTITY) is not allowed');
  for (const m of outsideCdata.matchAll(/&([^;&<\s]*);?/g)) {
    const ref = m[1]!;
    if (!m[0].endsWith(';')) throw malformed(`"&" must start a reference ending in ";" (near "${m[0].slice(0, 20)}")`);
    if (Object.hasOwn(XML_ENTITIES, ref)) continue;
    const num = /^#(\d+)$/.exec(ref) ?? /^#x([0-9a-fA-F]+)$/.exec(ref);
    if (num === null) throw malformed(`undeclared entity &${ref};`);
    const cp = ref[1] === 'x' ? parseInt(num[1]!, 16) : parseInt(num[1]!, 10);
    if (!isXmlChar(cp)) throw malformed(`character reference &${ref}; names no XML character`);
  }
}

/** Parses a request body; throws MalformedXML when it is not well-formed or lacks `root`. */
export function parseXml(text: string, root: string): Record<string, unknown> {
  if (text.trim() === '') throw malformed('the body is empty');
  checkMarkup(text);
  if (XMLValidator.validate(text) !== true) throw malformed('not well-formed');
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw malformed(err instanceof Error ? err.message : String(err));
  }
  const el = doc[root];
  if (el === undefined) throw new S3Error('MalformedXML', `expected a <${root}> document`);
  if (el === '' || el === null) return {};
  if (typeof el !== 'object') {
    // Whitespace between the tags of an empty root is not content.
    if (typeof el === 'string' && el.trim() === '') return {};
    throw new S3Error('MalformedXML', `<${root}> must contain elements`);
  }
  return el as Record<string, unknown>;
}

export function xmlString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

