// Builds a fast-check arbitrary for any value a typebox schema accepts, so the codec property
// test covers every registered message type, including ones added by later protocols.
import fc from 'fast-check';
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';

export function arbitraryFor(schema: TSchema): fc.Arbitrary<unknown> {
  const s = schema as TSchema & Record<string, unknown>;
  switch (s[Kind]) {
    case 'String':
      if (typeof s.pattern === 'string') {
        const min = num(s.minLength) ?? 0;
        const max = num(s.maxLength) ?? Infinity;
        return fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= min && x.length <= max);
      }
      return fc.string({ minLength: num(s.minLength) ?? 0, maxLength: Math.min(num(s.maxLength) ?? 64, 64) });
    case 'Integer':
      return fc.integer({ min: num(s.minimum) ?? -1e9, max: Math.min(num(s.maximum) ?? 1e9, Number.MAX_SAFE_INTEGER) });
    case 'Number':
      // msgpack does not keep the sign of zero (-0 decodes as 0), so -0 is not a value to send.
      return fc.double({ min: num(s.minimum) ?? -1e9, max: num(s.maximum) ?? 1e9, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
    case 'Boolean':
      return fc.boolean();
    case 'Literal':
      return fc.constant(s.const);
    case 'Null':
      return fc.constant(null);
    case 'Undefined':
      return fc.constant(undefined);
    case 'Uint8Array':
      return fc.uint8Array({ minLength: num(s.minByteLength) ?? 0, maxLength: Math.min(num(s.maxByteLength) ?? 64, 64) });
    case 'Array':
      return fc.array(arbitraryFor(s.items as TSchema), { minLength: num(s.minItems) ?? 0, maxLength: Math.min(num(s.maxItems) ?? 5, 5) });
    case 'Union':
      return fc.oneof(...(s.anyOf as TSchema[]).map(arbitraryFor));
    case 'Record': {
      const [[keyPattern, values]] = Object.entries(s.patternProperties as Record<string, TSchema>) as [[string, TSchema]];
      // A record keyed by a patterned string (e.g. environment variable names) is only closed
      // to other keys with additionalProperties: false; generate keys that match either way.
      const keys = keyPattern === '^(.*)$' || keyPattern === '^.*$' ? fc.string({ minLength: 1, maxLength: 16 }) : fc.stringMatching(new RegExp(keyPattern)).filter((k) => k.length <= 64);
      return fc.dictionary(keys.filter((k) => k !== '__proto__'), arbitraryFor(values), { maxKeys: Math.min(num(s.maxProperties) ?? 4, 4) });
    }
    case 'Object': {
      const props = s.properties as Record<string, TSchema>;
      const required: Record<string, fc.Arbitrary<unknown>> = {};
      const optional: string[] = [];
      for (const [key, prop] of Object.entries(props)) {
        required[key] = arbitraryFor(prop);
        if ((prop as unknown as Record<symbol, unknown>)[OptionalKind] === 'Optional') optional.push(key);
      }
      return fc.record(required, { requiredKeys: Object.keys(props).filter((k) => !optional.includes(k)) });
    }
    default:
      throw new Error(`schema-arbitrary: unsupported schema kind ${String(s[Kind])}; extend test/wire/schema-arbitrary.ts`);
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
