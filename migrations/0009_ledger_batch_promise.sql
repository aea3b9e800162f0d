-- One promise signature per batch of casts (src/ledger/ledger.ts signLedgerBatch): the signature
-- in promise_sig is over the root of an RFC 6962 tree of the batch's leaf hashes, and promise_path
-- places the entry in it: '<index>/<size>/<hash>,<hash>,…' (its RFC 9162 inclusion path, hex).
-- Null for a batch of one, whose root is the leaf hash itself: every earlier row is such a promise.
alter table ledger_entries add column promise_path text;
