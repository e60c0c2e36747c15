/**
 * Leak checks that do not depend on redact(): `containsSecret(t)` is `redact(t) !== t`, so it
 * misses every form redact misses (a bare key, a key in a field name redact does not know). These
 * helpers collect the literal secrets a test created and list any that appear verbatim.
 */

/** The key material inside connection strings: SharedAccessKey, AccountKey and SAS signature values. */
export function keysOf(...connectionStrings: string[]): string[] {
  const out: string[] = [];
  for (const cs of connectionStrings) {
    for (const m of cs.matchAll(/(?:SharedAccessKey|AccountKey)=([^;]+)/gi)) out.push(m[1]);
    for (const m of cs.matchAll(/[?&;]sig=([^&;]+)/gi)) out.push(m[1], decodeURIComponent(m[1]));
  }
  return out;
}

/** Device and module keys in export/import lines (authentication.symmetricKey). */
export function deviceKeysOf(lines: Iterable<string>): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    const k = (JSON.parse(line) as { authentication?: { symmetricKey?: { primaryKey?: string | null; secondaryKey?: string | null } } }).authentication?.symmetricKey;
    for (const v of [k?.primaryKey, k?.secondaryKey]) if (v) out.push(v);
  }
  return out;
}

/** The literals (or their URL-encoded form) found in `text`; expect it to equal []. */
export function leakedLiterals(text: string, literals: string[]): string[] {
  const found = new Set<string>();
  for (const l of literals) {
    if (l.length < 8) continue; // too short to be key material; would match by chance
    if (text.includes(l) || text.includes(encodeURIComponent(l))) found.add(l.slice(0, 4) + "…");
  }
  return [...found];
}
