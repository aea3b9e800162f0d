// Ed25519 verification and the exact texts that are signed. Pure (node:crypto only): the
// standalone verifier imports this file.
import { createPublicKey, verify, type KeyObject } from 'node:crypto'

/** The key object for a raw 32-byte Ed25519 public key given in base64 (as published in bundles); null if it is not one. */
export function publicKeyOf(publicKeyB64: string): KeyObject | null {
  try {
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyB64, 'base64')])
    return createPublicKey({ key: spki, format: 'der', type: 'spki' })
  } catch {
    return null
  }
}

/** Verify with a key object made once (publicKeyOf): for many signatures by the same key. */
export function verifyWith(key: KeyObject | null, text: string, signatureB64: string): boolean {
  if (!key) return false
  try {
    return verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(signatureB64, 'base64'))
  } catch {
    return false
  }
}

/** Verify with a raw 32-byte Ed25519 public key given in base64 (as published in bundles). */
export const verifyText = (publicKeyB64: string, text: string, signatureB64: string): boolean => verifyWith(publicKeyOf(publicKeyB64), text, signatureB64)

/** What is signed: a promise of inclusion at cast time, and a checkpoint (tree head). */
export const promiseText = (meetingId: string, leafHashHex: string, createdAtIso: string) => `gongzhi-promise/v1\n${meetingId}\n${leafHashHex}\n${createdAtIso}`
export const checkpointText = (meetingId: string, treeSize: number, rootHex: string, signedAtIso: string) => `gongzhi-checkpoint/v1\n${meetingId}\n${treeSize}\n${rootHex}\n${signedAtIso}`
