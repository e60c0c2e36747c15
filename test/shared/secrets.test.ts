import { describe, expect, it } from "vitest";
import { containsSecret, redact } from "../../components/secrets";

const key = "q7Xh3n0vR8mW2kPz5tYb1cLd9fGj4sAe6uIo0pQw+E/=";

describe("redact", () => {
  it("masks keys in connection strings and keeps the coordinates", () => {
    const cs = `HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${key}`;
    expect(redact(cs)).toBe("HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=****");
    expect(redact(`DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=${key};EndpointSuffix=core.windows.net`)).toBe(
      "DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=****;EndpointSuffix=core.windows.net",
    );
  });

  it("keeps a connection string's coordinates in JSON, masking only its key", () => {
    const out = redact(JSON.stringify({ connectionString: `HostName=hub.azure-devices.net;SharedAccessKeyName=owner;SharedAccessKey=${key}` }));
    expect(out).toBe('{"connectionString":"HostName=hub.azure-devices.net;SharedAccessKeyName=owner;SharedAccessKey=****"}');
  });

  it("stops at a closing parenthesis or comma after the key", () => {
    expect(redact(`(SharedAccessKey=${key}), next`)).toBe("(SharedAccessKey=****), next");
  });

  it("masks SAS query parameters and SharedAccessSignature headers", () => {
    const url = "https://st1.blob.core.windows.net/c?sv=2024-01-01&sp=rw&se=2026-11-26T04%3A00Z&sig=abc%2Bdef%3D";
    const out = redact(url);
    expect(out).not.toContain("abc%2Bdef");
    expect(out).toContain("https://st1.blob.core.windows.net/c?");
    expect(redact("SharedAccessSignature sr=hub.azure-devices.net&sig=xyz&se=1&skn=owner")).not.toContain("xyz");
  });

  it("masks key fields in JSON but leaves ordinary 'key' fields such as message enrichments", () => {
    const json = JSON.stringify({ primaryKey: key, secondaryKey: key, enrichment: { key: "region", value: "eu" } });
    const out = redact(json);
    expect(out).not.toContain(key);
    expect(out).toContain('"key":"region"');
  });

  it("containsSecret tells clear text from masked text", () => {
    expect(containsSecret(`SharedAccessKey=${key}`)).toBe(true);
    expect(containsSecret("SharedAccessKey=****")).toBe(false);
    expect(containsSecret(JSON.stringify({ primaryKey: "****" }))).toBe(false);
  });
});
