// The structured log a node's components write to: pino's shape, so that a
// server passes its pino logger as it is; the simulator passes SILENT_LOG
// (its trace, not a log, is what a failing seed prints).

export interface ComponentLog {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export const SILENT_LOG: ComponentLog = {
  debug: () => {},
  info: () => {},
  warn: () => {},
};
