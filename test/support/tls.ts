/**
 * A self-signed certificate for 127.0.0.1 and localhost, written as PEM files into a folder of the
 * test's, for servers the engine reaches over https (Azurite with OAuth). The engine trusts it
 * through NODE_EXTRA_CA_CERTS, as a deployment behind a private CA would.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  certPath: string;
  keyPath: string;
}

export async function writeSelfSignedCertificate(folder: string): Promise<TestCertificate> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  const certPath = path.join(folder, 'cert.pem');
  const keyPath = path.join(folder, 'key.pem');
  await writeFile(certPath, pems.cert);
  await writeFile(keyPath, pems.private);
  return { certPath, keyPath };
}
