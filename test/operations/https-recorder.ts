/**
 * A local HTTPS server that answers from recorded interactions, for SDKs that bring their own
 * transport (azure-iot-provisioning-service, azure-iothub use node https, not the core pipeline):
 * the real SDK signs, serializes and pages on the wire, and tests read what it sent. The host name
 * is kept (SAN = the Azure host), the connection is routed to 127.0.0.1 by the agent.
 */
import * as crypto from "crypto";
import * as https from "https";
import type { AddressInfo } from "net";
import forge from "node-forge";
import type { Interaction, SentRequest } from "./recorded";

function selfSigned(hosts: string[]): { key: string; cert: string } {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const priv = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  cert.serialNumber = "01" + crypto.randomBytes(8).toString("hex");
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: "commonName", value: hosts[0] }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "subjectAltName", altNames: hosts.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(priv, forge.md.sha256.create());
  return { key: keyPem, cert: forge.pki.certificateToPem(cert) };
}

export interface RecordedHttpsServer {
  agent: https.Agent;
  sent: Array<SentRequest & { headers: Record<string, string | string[] | undefined> }>;
  add(...i: Interaction[]): void;
  close(): Promise<void>;
}

export async function startRecordedHttps(hosts: string[], interactions: Interaction[]): Promise<RecordedHttpsServer> {
  const { key, cert } = selfSigned(hosts);
  const pending = [...interactions];
  const sent: RecordedHttpsServer["sent"] = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", `https://${req.headers.host}`);
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      sent.push({ method: req.method ?? "", path: url.pathname, query: url.search, body, authorization: req.headers.authorization, headers: req.headers });
      const idx = pending.findIndex((i) => i.method === req.method && i.path === url.pathname);
      if (idx < 0) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ Message: `no recorded response for ${req.method} ${url.pathname}` }));
        return;
      }
      const hit = pending.splice(idx, 1)[0];
      res.writeHead(hit.status, { "content-type": "application/json; charset=utf-8", ...(hit.headers ?? {}) });
      res.end(hit.body === undefined ? "" : JSON.stringify(hit.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new https.Agent({
    ca: cert,
    keepAlive: false,
    // Node 20 asks for every address (`all: true`, happy eyeballs) or for one.
    lookup: ((_host: string, opts: { all?: boolean }, cb: (e: null, a: unknown, f?: number) => void) =>
      opts?.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4)) as never,
  });
  // The SDKs cannot put a port in the host name; the agent supplies it.
  (agent as unknown as { defaultPort: number }).defaultPort = port;
  return {
    agent,
    sent,
    add: (...i) => pending.push(...i),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
