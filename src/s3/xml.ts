// XML in and out (fast-xml-parser). Output objects use the S3 element names;
// arrays become repeated elements. Input is validated first, so malformed
// bodies become MalformedXML instead of a crash or a silent misparse.

import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors.js';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false, suppressBooleanAttributes: false });

/** Renders `{ Root: {...} }` with the XML declaration; adds the S3 namespace to the root when `ns`. */
export function toXml(root: string, body: Record<string, unknown>, ns = true): string {
  const el = ns ? { '@_xmlns': S3_XMLNS, ...body } : body;
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, [root]: el }) as string;
}

const ARRAYS = new Set(['Part', 'Object']);
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  removeNSPrefix: true,
  isArray: (name) => ARRAYS.has(name),
});

/** Parses a request body; throws MalformedXML when it is not well-formed or lacks `root`. */
export function parseXml(text: string, root: string): Record<string, unknown> {
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const doc = parser.parse(text) as Record<string, unknown>;
  const el = doc[root];
  if (el === undefined) throw new S3Error('MalformedXML', `expected a <${root}> document`);
  if (el === '' || el === null) return {};
  if (typeof el !== 'object') throw new S3Error('MalformedXML', `<${root}> must contain elements`);
  return el as Record<string, unknown>;
}

export function xmlString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}
