/**
 * A local certificate authority and a server certificate for `*.azure-devices.net`, `localhost`
 * and 127.0.0.1, generated on first start into the state folder (nothing checked in) and reused
 * on restart so clients that trust the CA file keep working.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import forge from "node-forge";

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  caFile: string;
}

function keyPair(): forge.pki.rsa.KeyPair {
  // Node's native generator: forge's pure-JS RSA keygen takes seconds on a loaded box.
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const priv = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  const pub = forge.pki.setRsaPublicKey(priv.n, priv.e);
  return { privateKey: priv, publicKey: pub };
}

function serial(): string {
  // Positive serial number: leading byte below 0x80.
  return "01" + crypto.randomBytes(15).toString("hex");
}

export function generateTls(): { key: string; cert: string; ca: string } {
  const caKeys = keyPair();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  ca.validity.notAfter = new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000);
  const caSubject = [{ name: "commonName", value: "iothub-clone local IoT Hub CA" }];
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const serverKeys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = serverKeys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000);
  cert.setSubject([{ name: "commonName", value: "*.azure-devices.net" }]);
  cert.setIssuer(caSubject);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "*.azure-devices.net" },
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
      ],
    },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    key: forge.pki.privateKeyToPem(serverKeys.privateKey),
    cert: forge.pki.certificateToPem(cert),
    ca: forge.pki.certificateToPem(ca),
  };
}

/** Loads the TLS material from `<stateDir>/tls/`, generating it on first use. */
export function ensureTls(stateDir: string): TlsMaterial {
  const dir = path.join(stateDir, "tls");
  const files = { key: path.join(dir, "server-key.pem"), cert: path.join(dir, "server-cert.pem"), ca: path.join(dir, "ca.pem") };
  if (!fs.existsSync(files.key) || !fs.existsSync(files.cert) || !fs.existsSync(files.ca)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const material = generateTls();
    fs.writeFileSync(files.key, material.key, { mode: 0o600 });
    fs.writeFileSync(files.cert, material.cert);
    fs.writeFileSync(files.ca, material.ca);
  }
  return {
    key: fs.readFileSync(files.key, "utf8"),
    cert: fs.readFileSync(files.cert, "utf8"),
    ca: fs.readFileSync(files.ca, "utf8"),
    caFile: files.ca,
  };
}
