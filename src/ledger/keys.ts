// The ledger's Ed25519 signing key: LEDGER_SIGNING_KEY (base64 PKCS#8 DER) in production;
// generated on first start and kept in DATA_DIR in development.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, createHash, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface SigningKey { privateKey: KeyObject; publicKey: KeyObject; publicKeyB64: string; keyId: string }

export function signingKeyFrom(pkcs8Der: Buffer): SigningKey {
  const privateKey = createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' })
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('LEDGER_SIGNING_KEY must be an Ed25519 key')
  const publicKey = createPublicKey(privateKey)
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return { privateKey, publicKey, publicKeyB64: raw.toString('base64'), keyId: createHash('sha256').update(raw).digest('hex').slice(0, 16) }
}

export function loadSigningKey(opts: { ledgerKey?: string; dataDir: string }): SigningKey {
  if (opts.ledgerKey) return signingKeyFrom(Buffer.from(opts.ledgerKey, 'base64'))
  mkdirSync(opts.dataDir, { recursive: true })
  const file = join(opts.dataDir, 'ledger-ed25519.pk8')
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(file, privateKey.export({ format: 'der', type: 'pkcs8' }), { mode: 0o600 })
  }
  return signingKeyFrom(readFileSync(file))
}

export const signText = (key: SigningKey, text: string) => sign(null, Buffer.from(text, 'utf8'), key.privateKey).toString('base64')

export { verifyText, promiseText, checkpointText } from './signatures.js'
