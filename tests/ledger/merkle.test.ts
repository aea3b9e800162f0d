// RFC 6962 / 9162 Merkle hashing: the reference vectors of the Certificate Transparency code,
// and every inclusion and consistency proof of trees up to 70 leaves (including tampering).
import t from 'tap'
import { MerkleTree, leafHash, rootOf, verifyInclusion, verifyConsistency, EMPTY_ROOT, promiseRoot, formatPromisePath, promisePathPlace } from '../../src/ledger/merkle.js'

// Leaf inputs and roots from the RFC 6962 reference implementation's test data.
const INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]

t.test('reference roots', async (t) => {
  t.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'empty tree = SHA-256 of nothing')
  const tree = new MerkleTree()
  INPUTS.forEach((hex, i) => {
    tree.append(leafHash(Buffer.from(hex, 'hex')))
    t.equal(tree.root().toString('hex'), ROOTS[i], `root of ${i + 1} leaves`)
  })
})

t.test('every proof of every tree up to 70 leaves verifies, and tampering fails', async (t) => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
  const tree = new MerkleTree()
  let checked = 0
  let failures = 0
  for (let n = 1; n <= leaves.length; n++) {
    tree.append(leaves[n - 1])
    if (!tree.root(n).equals(rootOf(leaves.slice(0, n)))) failures++
    const root = tree.root(n)
    for (let m = 0; m < n; m++) {
      const proof = tree.inclusionProof(m, n)
      if (!verifyInclusion(leaves[m], m, n, proof, root)) failures++
      if (n > 1 && verifyInclusion(leaves[(m + 1) % n], m, n, proof, root)) failures++ // another leaf
      if (n > 1 && verifyInclusion(leaves[m], (m + 1) % n, n, proof, root)) failures++ // another position
      if (proof.length && verifyInclusion(leaves[m], m, n, [...proof.slice(0, -1), leafHash(Buffer.from('x'))], root)) failures++
      checked++
    }
    for (let m = 1; m <= n; m++) {
      const proof = tree.consistencyProof(m, n)
      if (!verifyConsistency(m, n, tree.root(m), root, proof)) failures++
      if (m < n && verifyConsistency(m, n, leafHash(Buffer.from('forged')), root, proof)) failures++
      checked++
    }
  }
  t.equal(failures, 0, `${checked} proofs checked`)
})

t.test('a copy is independent, hex and binary appends agree, and returned hashes are copies', async (t) => {
  const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
  const a = new MerkleTree()
  const b = new MerkleTree()
  for (const l of leaves.slice(0, 100)) { a.append(l); b.appendHex(l.toString('hex')) }
  t.ok(a.root().equals(b.root()), 'appendHex gives the same tree')
  const c = a.clone()
  for (const l of leaves.slice(100)) c.append(l)
  t.equal(a.size, 100, 'the original did not grow with its copy')
  t.ok(a.root().equals(rootOf(leaves.slice(0, 100))), 'the original is unchanged')
  t.ok(c.root().equals(rootOf(leaves)), 'the copy grew past its levels\' first capacity correctly')
  t.ok(c.root(100).equals(a.root()), 'the copy keeps the original as its prefix')
  const proof = c.inclusionProof(7, 300)
  proof[0].fill(0)
  c.root().fill(0)
  t.ok(verifyInclusion(leaves[7], 7, 300, c.inclusionProof(7, 300), rootOf(leaves)), 'changing returned hashes does not change the tree')
  t.throws(() => a.appendHex('zz'.repeat(32)), RangeError, 'a leaf that is not hex is refused')
  t.equal(a.size, 100, 'and not appended')
})

t.test('batch promise paths: every leaf of a batch leads to its root; a changed place or hash does not', async (t) => {
  for (let n = 1; n <= 9; n++) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${n}.${i}`)))
    const tree = new MerkleTree()
    for (const l of leaves) tree.append(l)
    const root = tree.root().toString('hex')
    for (let i = 0; i < n; i++) {
      const hex = leaves[i].toString('hex')
      if (n === 1) { t.equal(promiseRoot(hex, null), hex, 'a batch of one: the root is the leaf hash'); continue }
      const path = formatPromisePath(i, n, tree.inclusionProof(i))
      t.same(promisePathPlace(path), { index: i, size: n })
      t.equal(promiseRoot(hex, path), root, `leaf ${i} of ${n}`)
      const [, , hashes] = path.split('/')
      t.not(promiseRoot(hex, `${(i + 1) % n}/${n}/${hashes}`), root, 'another index')
      t.not(promiseRoot(hex, `${i}/${n}/${hashes.replace(/^./, (c) => (c === '0' ? '1' : '0'))}`), root, 'a changed hash')
    }
  }
  const leaf = leafHash(Buffer.from('x')).toString('hex')
  for (const bad of ['', '0/1/' + leaf, '00/2/' + leaf, '2/2/' + leaf, '0/2/', `0/2/${leaf},`, `0/2/${leaf.toUpperCase()}`, `0/2/${leaf},${leaf}`, '-1/2/' + leaf]) {
    t.equal(promiseRoot(leaf, bad), null, `refused: ${JSON.stringify(bad.slice(0, 12))}`)
  }
})
