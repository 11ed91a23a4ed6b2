//! The Merkle math against the RFC's own examples, hand-derived vectors, a naive
//! transcription of RFC 6962 §2.1, and an independent implementation (`ct-merkle`).

use super::*;
use ct_merkle::mem_backed_tree::MemoryBackedTree;

type CtTree = MemoryBackedTree<sha2_for_ct_merkle::Sha256, Vec<u8>>;

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The CT reference implementation's test inputs.
fn ct_inputs() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|s| hex::decode(s).unwrap())
        .collect()
}

// --- a naive transcription of RFC 6962 §2.1, over slices ---

fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&d[0]),
        n => {
            let k = (1..n).map(|i| 1usize << i).take_while(|&p| p < n).last().unwrap_or(1);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = naive_path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

fn naive_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = naive_subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn naive_proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    naive_subproof(m, d, true)
}

fn tree_of(d: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for x in d {
        t.push(x);
    }
    t
}

#[test]
fn k_is_the_largest_power_of_two_below_n() {
    for n in 2..2000u64 {
        assert_eq!(split(n) as usize, k_of(n as usize), "n = {n}");
    }
    assert_eq!(split(u64::MAX), 1 << 63);
}

#[test]
fn empty_and_single_leaf_by_hand() {
    // SHA-256("") and SHA-256(0x00).
    assert_eq!(empty_root(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_eq!(leaf_hash(b""), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    assert_eq!(tree_of(&[]).root(0), empty_root());
    assert_eq!(tree_of(&[b"x".to_vec()]).root(1), leaf_hash(b"x"));
}

#[test]
fn roots_of_small_trees_by_hand() {
    let d = ct_inputs();
    let l: Vec<Hash> = d.iter().map(|x| leaf_hash(x)).collect();
    let n = |a: Hash, b: Hash| node_hash(&a, &b);
    let t = tree_of(&d);
    assert_eq!(t.root(2), n(l[0], l[1]));
    assert_eq!(t.root(3), n(n(l[0], l[1]), l[2]));
    assert_eq!(t.root(4), n(n(l[0], l[1]), n(l[2], l[3])));
    assert_eq!(t.root(5), n(n(n(l[0], l[1]), n(l[2], l[3])), l[4]));
    assert_eq!(t.root(6), n(n(n(l[0], l[1]), n(l[2], l[3])), n(l[4], l[5])));
    assert_eq!(t.root(7), n(n(n(l[0], l[1]), n(l[2], l[3])), n(n(l[4], l[5]), l[6])));
    assert_eq!(t.root(8), n(n(n(l[0], l[1]), n(l[2], l[3])), n(n(l[4], l[5]), n(l[6], l[7]))));
}

#[test]
fn roots_match_the_ct_reference_vectors() {
    // From the Certificate Transparency reference implementation's tests.
    let expected = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let t = tree_of(&ct_inputs());
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(hex::encode(t.root(i as u64 + 1)), *e, "size {}", i + 1);
    }
}

/// RFC 6962 §2.1.3: the example tree of seven leaves and its named nodes.
#[test]
fn the_rfc_examples() {
    let d = ct_inputs()[..7].to_vec();
    let t = tree_of(&d);
    let [a, b, c, dd, e, f, d6]: [Hash; 7] = d.iter().map(|x| leaf_hash(x)).collect::<Vec<_>>().try_into().unwrap();
    let g = node_hash(&a, &b);
    let hh = node_hash(&c, &dd);
    let i = node_hash(&e, &f);
    let j = d6;
    let k = node_hash(&g, &hh);
    let l = node_hash(&i, &j);
    let root = node_hash(&k, &l);
    assert_eq!(t.root(7), root);
    // Audit paths.
    assert_eq!(t.inclusion_proof(0, 7), vec![b, hh, l]);
    assert_eq!(t.inclusion_proof(3, 7), vec![c, g, l]);
    assert_eq!(t.inclusion_proof(4, 7), vec![f, j, k]);
    assert_eq!(t.inclusion_proof(6, 7), vec![i, k]);
    // Consistency proofs.
    assert_eq!(t.consistency_proof(3, 7), vec![c, dd, g, l]);
    assert_eq!(t.consistency_proof(4, 7), vec![l]);
    assert_eq!(t.consistency_proof(6, 7), vec![i, j, k]);
    for (first, proof) in [(3, vec![c, dd, g, l]), (4, vec![l]), (6, vec![i, j, k])] {
        assert!(verify_consistency(first, 7, &t.root(first), &root, &proof), "first {first}");
    }
    for (m, leaf) in [a, b, c, dd, e, f, d6].iter().enumerate() {
        assert!(verify_inclusion(leaf, m as u64, 7, &t.inclusion_proof(m as u64, 7), &root));
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn split_proof(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

/// Every tree size 1..=300 against ct-merkle and the naive transcription: roots, and
/// inclusion and consistency proofs at random points (and the edges), each verified.
#[test]
fn cross_check_against_ct_merkle_and_the_rfc_recursion() {
    let mut rng = 0x2545f4914f6cdd1du64;
    let data: Vec<Vec<u8>> = (0..300u32).map(|i| format!("record {i} {}", i * 7919).into_bytes()).collect();
    let mut mine = MemoryTree::new();
    let mut ct = CtTree::new();
    for n in 1..=300usize {
        mine.push(&data[n - 1]);
        ct.push(data[n - 1].clone());
        let size = n as u64;
        let root = mine.root(size);
        assert_eq!(root.as_slice(), ct.root().as_bytes().as_slice(), "root, size {n}");
        // The naive recursion rehashes everything; it checks a subset of sizes (all pairs of
        // the small sizes are in `all_proofs_of_small_trees`).
        let naive = n <= 64 || n % 16 == 0 || n == 300;
        if naive {
            assert_eq!(root, mth(&data[..n]), "root vs naive, size {n}");
        }
        // Inclusion: first, last and random indexes.
        let mut idxs = vec![0, n - 1];
        idxs.extend((0..6).map(|_| (xorshift(&mut rng) % n as u64) as usize));
        for m in idxs {
            let p = mine.inclusion_proof(m as u64, size);
            assert_eq!(p, split_proof(ct.prove_inclusion(m).as_bytes()), "inclusion ({m}, {n}) vs ct-merkle");
            if naive {
                assert_eq!(p, naive_path(m, &data[..n]), "inclusion ({m}, {n}) vs naive");
            }
            let leaf = leaf_hash(&data[m]);
            assert!(verify_inclusion(&leaf, m as u64, size, &p, &root), "verify inclusion ({m}, {n})");
            if m + 1 < n {
                assert!(!verify_inclusion(&leaf, m as u64 + 1, size, &p, &root));
            }
            if let Some(first) = p.first() {
                let mut bad = p.clone();
                bad[0] = node_hash(first, first);
                assert!(!verify_inclusion(&leaf, m as u64, size, &bad, &root));
            }
        }
        // Consistency: first = 1, n - 1 and random.
        let mut firsts = vec![1, n.saturating_sub(1).max(1)];
        firsts.extend((0..6).map(|_| 1 + (xorshift(&mut rng) % n as u64) as usize));
        for m in firsts.into_iter().filter(|&m| m < n) {
            let p = mine.consistency_proof(m as u64, size);
            assert_eq!(p, split_proof(ct.prove_consistency(n - m).as_bytes()), "consistency ({m}, {n}) vs ct-merkle");
            if naive {
                assert_eq!(p, naive_proof(m, &data[..n]), "consistency ({m}, {n}) vs naive");
            }
            let old = mine.root(m as u64);
            assert!(verify_consistency(m as u64, size, &old, &root, &p), "verify consistency ({m}, {n})");
            assert!(!verify_consistency(m as u64, size, &root, &old, &p));
            if !p.is_empty() {
                assert!(!verify_consistency(m as u64, size, &old, &root, &p[..p.len() - 1]));
            }
        }
        assert!(verify_consistency(size, size, &root, &root, &[]));
        assert!(verify_consistency(0, size, &empty_root(), &root, &[]));
    }
}

/// All pairs for the smaller sizes, against the naive recursion.
#[test]
fn all_proofs_of_small_trees() {
    let data: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let t = tree_of(&data);
    for n in 1..=40usize {
        let root = t.root(n as u64);
        for m in 0..n {
            let p = t.inclusion_proof(m as u64, n as u64);
            assert_eq!(p, naive_path(m, &data[..n]));
            assert!(verify_inclusion(&leaf_hash(&data[m]), m as u64, n as u64, &p, &root));
        }
        for m in 1..n {
            let p = t.consistency_proof(m as u64, n as u64);
            assert_eq!(p, naive_proof(m, &data[..n]));
            assert!(verify_consistency(m as u64, n as u64, &t.root(m as u64), &root, &p));
        }
    }
}

#[test]
fn the_frontier_resumes_from_stored_subtrees() {
    let data: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let t = tree_of(&data);
    for size in 0..=100u64 {
        let keys = Span { start: 0, len: size }.nodes();
        let hashes: Vec<Hash> = keys.iter().map(|k| t.nodes[k]).collect();
        let mut f = Frontier::from_nodes(size, &hashes);
        assert_eq!(f.root(), t.root(size));
        for x in &data[size as usize..] {
            f.push(leaf_hash(x), |_, _, _| {});
        }
        assert_eq!(f.root(), t.root(100));
    }
}
