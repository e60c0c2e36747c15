/**
 * Masks credentials in text bound for logs, plans and error messages. Keys, SAS signatures and
 * connection strings must never leave the process in clear, whatever library produced the text.
 */
// Connection strings are not masked whole: the `Key=` rules below mask their keys and keep the
// host, account and endpoint a reader needs.
const patterns: Array<[RegExp, string]> = [
  // Base64 keys and URL-encoded signatures never contain `;`, quotes, spaces, `&`, `)` or `,`:
  // stopping there keeps the text around them (a closing parenthesis, the next field) intact.
  [/(SharedAccessKey|AccountKey|SharedAccessSignature|AuthKey|Password)=([^;"'\s&),]+)/gi, "$1=****"],
  [/([?&](sig|se|sv|sp|sr|spr|st|srt|ss|skoid|sktid|skt|ske|sks|skv|sip|rscc)=)[^&"'\s]*/gi, "$1****"],
  [/(SharedAccessSignature\s+)[^"'\s,]+/g, "$1****"],
  [/("(primaryKey|secondaryKey|accountKey|primaryMasterKey|secondaryMasterKey)"\s*:\s*")[^"*][^"]*"/gi, '$1****"'],
];

export function redact(text: string): string {
  let out = text;
  for (const [re, replacement] of patterns) out = out.replace(re, replacement);
  return out;
}

/** True when the string looks like it still carries a secret: used by tests that scan output. */
export function containsSecret(text: string): boolean {
  return redact(text) !== text;
}
