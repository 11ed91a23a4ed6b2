//! RFC 6962 §2.1 Merkle tree hashing (SHA-256), over stored subtree hashes.
//!
//! - leaf: `H(0x00 || d)`; node: `H(0x01 || left || right)`; empty tree: `H()`.
//! - `MTH(D[0:n])` for `n > 1` splits at `k`, the largest power of two below `n`.
//!
//! Every range the RFC's recursion visits, `[start, start + len)`, starts at a multiple of
//! a power of two that is at least `len`, so it is the left-to-right concatenation of the
//! complete subtrees given by the bits of `len` (largest first), and its hash is the right
//! fold of their hashes. Those complete subtrees are exactly what the store keeps (level,
//! index), so a root or a proof costs O(log n) node reads and no rehashing.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A range of leaves `[start, start + len)` whose hash a root or a proof needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u64,
    pub len: u64,
}

impl Span {
    /// The complete subtrees `(level, index)` that make up this span, left to right.
    pub(crate) fn nodes(self) -> Vec<(u8, u64)> {
        let mut out = Vec::with_capacity(self.len.count_ones() as usize);
        let mut at = self.start;
        for level in (0..64u8).rev() {
            if self.len & (1 << level) != 0 {
                debug_assert_eq!(at % (1 << level), 0, "span {self:?} is not aligned");
                out.push((level, at >> level));
                at += 1 << level;
            }
        }
        out
    }
}

/// Folds the hashes of a span's complete subtrees (left to right) into the span's hash.
pub(crate) fn fold(hashes: &[Hash]) -> Hash {
    let mut it = hashes.iter().rev();
    let Some(last) = it.next() else { return empty_root() };
    it.fold(*last, |acc, h| node_hash(h, &acc))
}

/// RFC 6962 §2.1.1 `PATH(m, D[0:n])`, as the spans whose hashes form the audit path,
/// leaf-side first. `index < size`.
pub(crate) fn inclusion_spans(index: u64, size: u64) -> Vec<Span> {
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    out
}

fn path(m: u64, start: u64, n: u64, out: &mut Vec<Span>) {
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m - start < k {
        path(m, start, k, out);
        out.push(Span { start: start + k, len: n - k });
    } else {
        path(m, start + k, n - k, out);
        out.push(Span { start, len: k });
    }
}

/// RFC 6962 §2.1.2 `PROOF(m, D[0:n])`, as spans. `0 < first <= second`.
pub(crate) fn consistency_spans(first: u64, second: u64) -> Vec<Span> {
    let mut out = Vec::new();
    if 0 < first && first < second {
        subproof(first, 0, second, true, &mut out);
    }
    out
}

/// `SUBPROOF(m, D[start:start+n], b)`, `m` counted from `start`.
fn subproof(m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Span>) {
    if m == n {
        if !whole {
            out.push(Span { start, len: n });
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, k, whole, out);
        out.push(Span { start: start + k, len: n - k });
    } else {
        subproof(m - k, start + k, n - k, false, out);
        out.push(Span { start, len: k });
    }
}

/// The complete subtrees of a tree of `size` leaves, largest first: the "frontier" an
/// appender keeps to extend the tree and compute its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    stack: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its complete subtrees' hashes, in the
    /// order of `Span { start: 0, len: size }.nodes()`.
    pub(crate) fn from_nodes(size: u64, hashes: &[Hash]) -> Self {
        let keys = Span { start: 0, len: size }.nodes();
        assert_eq!(keys.len(), hashes.len());
        Self { size, stack: keys.iter().zip(hashes).map(|(&(level, _), h)| (level, *h)).collect() }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; calls `completed(level, index, hash)` for the leaf (level 0) and
    /// for every subtree it completes.
    pub(crate) fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u8, u64, Hash)) {
        let index = self.size;
        completed(0, index, leaf);
        self.stack.push((0, leaf));
        while let [.., (l1, left), (l2, right)] = self.stack[..] {
            if l1 != l2 {
                break;
            }
            self.stack.truncate(self.stack.len() - 2);
            let level = l1 + 1;
            let h = node_hash(&left, &right);
            completed(level, index >> level, h);
            self.stack.push((level, h));
        }
        self.size += 1;
    }

    /// The root hash of the tree so far.
    pub(crate) fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.stack.iter().map(|(_, h)| *h).collect();
        fold(&hashes)
    }
}

fn lsb(x: u64) -> bool {
    x & 1 == 1
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2, the iterative form of RFC 6962's audit
/// path): the leaf with hash `leaf` is at `index` in the tree of `size` leaves with `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if lsb(f) || f == s {
            r = node_hash(p, &r);
            while !lsb(f) && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `first` leaves with
/// `first_root` is a prefix of the tree of `second` leaves with `second_root`.
/// `first == second` needs an empty proof and equal roots; `first == 0` is consistent with
/// anything (the empty tree is a prefix of every tree) and needs an empty proof.
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && *first_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while lsb(f) {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if lsb(f) || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while !lsb(f) && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

/// The root and proofs of a tree held in memory as its leaf hashes, computed from the
/// complete subtrees like the stored tree is. For tests and small offline checks.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    nodes: std::collections::HashMap<(u8, u64), Hash>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        let nodes = &mut self.nodes;
        self.frontier.push(leaf_hash(data), |l, i, h| {
            nodes.insert((l, i), h);
        });
    }

    pub fn len(&self) -> u64 {
        self.frontier.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn span(&self, s: Span) -> Hash {
        let hashes: Vec<Hash> = s.nodes().iter().map(|k| self.nodes[k]).collect();
        fold(&hashes)
    }

    /// The root of the first `size` leaves (`size <= len`).
    pub fn root(&self, size: u64) -> Hash {
        assert!(size <= self.len());
        self.span(Span { start: 0, len: size })
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        assert!(index < size && size <= self.len());
        inclusion_spans(index, size).into_iter().map(|s| self.span(s)).collect()
    }

    pub fn consistency_proof(&self, first: u64, second: u64) -> Vec<Hash> {
        assert!(first <= second && second <= self.len());
        consistency_spans(first, second).into_iter().map(|s| self.span(s)).collect()
    }
}

#[cfg(test)]
mod tests;
