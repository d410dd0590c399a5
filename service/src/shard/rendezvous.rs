//! Rendezvous (highest-random-weight) hashing of series ids over a list of endpoints, with a
//! fixed hash: the same assignment in every process, whatever the platform or endpoint order.
//!
//! ```text
//! weight(e, s) = fmix64(FNV-1a-64(utf8(e) ‖ 0x00 ‖ utf8(s)))
//! route(s)     = the live e of largest weight(e, s); ties: the smaller e
//! ```

/// FNV-1a 64-bit offset basis.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Why a list of endpoints cannot be sharded over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// No endpoint at all.
    #[error("no endpoint given")]
    Empty,
    /// An empty name, or one with a NUL byte (the separator of the hashed bytes).
    #[error("invalid endpoint {0:?}: empty or containing a NUL byte")]
    Invalid(String),
    /// The same endpoint twice (after [`canonical_endpoint`]).
    #[error("endpoint `{0}` is listed twice")]
    Duplicate(String),
}

/// 64-bit FNV-1a of the concatenated byte slices.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(FNV_OFFSET_BASIS, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
        })
}

/// MurmurHash3's 64-bit finaliser: every input bit flips each output bit with probability
/// about ½, which FNV-1a alone does not give for names that differ only near their end.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The weight of `endpoint` for `series_id`: `fmix64(FNV-1a-64(endpoint ‖ 0x00 ‖ series_id))`.
pub fn weight(endpoint: &str, series_id: &str) -> u64 {
    fmix64(fnv1a64(&[endpoint.as_bytes(), &[0], series_id.as_bytes()]))
}

/// The form of an endpoint that is hashed: surrounding spaces trimmed, `http://` added when no
/// scheme is given (as the client connects), trailing `/` removed.
pub fn canonical_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim();
    let e = if e.contains("://") {
        e.to_string()
    } else {
        format!("http://{e}")
    };
    e.trim_end_matches('/').to_string()
}

/// The endpoints a client shards over, in the order given (indices refer to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    endpoints: Vec<String>,
}

impl Rendezvous {
    /// The endpoints, each in its [`canonical_endpoint`] form.
    ///
    /// # Errors
    /// [`ShardError`] for an empty list, an empty name or one listed twice.
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> Result<Self, ShardError> {
        let mut out: Vec<String> = Vec::new();
        for e in endpoints {
            let raw = e.as_ref();
            if raw.trim().is_empty() || raw.contains('\0') {
                return Err(ShardError::Invalid(raw.to_string()));
            }
            let c = canonical_endpoint(raw);
            if out.contains(&c) {
                return Err(ShardError::Duplicate(c));
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err(ShardError::Empty);
        }
        Ok(Self { endpoints: out })
    }

    /// The canonical endpoints, in the order given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Indices of every endpoint for `series_id`, best first (largest weight; ties: the smaller
    /// endpoint string). A series fails over down this list.
    pub fn ranking(&self, series_id: &str) -> Vec<usize> {
        let mut order: Vec<(u64, usize)> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (weight(e, series_id), i))
            .collect();
        order.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| self.endpoints[a.1].cmp(&self.endpoints[b.1]))
        });
        order.into_iter().map(|(_, i)| i).collect()
    }

    /// The endpoint of `series_id` among those with `live[i]` true: the first live one of its
    /// [`Self::ranking`]; `None` when none is live.
    ///
    /// # Panics
    /// When `live` does not have one flag per endpoint.
    pub fn route(&self, series_id: &str, live: &[bool]) -> Option<usize> {
        assert_eq!(live.len(), self.endpoints.len(), "one live flag per endpoint");
        self.ranking(series_id).into_iter().find(|&i| live[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EPS: [&str; 3] = [
        "http://10.0.0.1:50051",
        "http://10.0.0.2:50051",
        "http://10.0.0.3:50051",
    ];

    fn all_live(r: &Rendezvous) -> Vec<bool> {
        vec![true; r.endpoints().len()]
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(&[b"foo", b"bar"]), 0x8594_4171_f739_67e8);
    }

    /// Fixed expectations, computed by an independent implementation of the documented rule
    /// (a few lines of Python): a change of hash, separator or tie rule breaks this test.
    #[test]
    fn assignments_are_fixed() {
        assert_eq!(weight(EPS[0], "machine_000"), 0xd644_2db8_5e47_6fdf);
        let r = Rendezvous::new(EPS).unwrap();
        let expected: [(&str, [usize; 3]); 8] = [
            ("machine_000", [0, 2, 1]),
            ("machine_001", [2, 0, 1]),
            ("machine_002", [0, 1, 2]),
            ("machine_003", [2, 0, 1]),
            ("machine_004", [2, 0, 1]),
            ("machine_005", [1, 0, 2]),
            ("pump-7", [2, 1, 0]),
            ("", [2, 0, 1]),
        ];
        for (id, ranking) in expected {
            assert_eq!(r.ranking(id), ranking, "{id:?}");
            assert_eq!(r.route(id, &all_live(&r)), Some(ranking[0]), "{id:?}");
        }
    }

    #[test]
    fn endpoints_are_canonical_and_unique() {
        let r = Rendezvous::new(["10.0.0.1:50051", " http://10.0.0.2:50051/ "]).unwrap();
        assert_eq!(r.endpoints(), &EPS[..2]);
        assert_eq!(
            Rendezvous::new(["http://a:1", "a:1/"]),
            Err(ShardError::Duplicate("http://a:1".into()))
        );
        assert_eq!(Rendezvous::new(Vec::<String>::new()), Err(ShardError::Empty));
        assert!(matches!(Rendezvous::new(["a", " "]), Err(ShardError::Invalid(_))));
        assert!(matches!(Rendezvous::new(["a\0b"]), Err(ShardError::Invalid(_))));
    }

    /// 10 000 ids over 3 endpoints: each gets within 7.5 % of a third (the binomial standard
    /// deviation is 47 ids, so the bound is over 5 of them; the hash gives 3312/3431/3257).
    #[test]
    fn ten_thousand_ids_are_balanced_over_three_endpoints() {
        let r = Rendezvous::new(EPS).unwrap();
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            counts[r.route(&format!("series-{i}"), &all_live(&r)).unwrap()] += 1;
        }
        assert_eq!(counts, [3312, 3431, 3257]);
        for c in counts {
            assert!((3083..=3583).contains(&c), "{counts:?}");
        }
        // The same on loopback ports, where names differ only in their last byte.
        let r = Rendezvous::new(["127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003"]).unwrap();
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            counts[r.route(&format!("series-{i}"), &all_live(&r)).unwrap()] += 1;
        }
        for c in counts {
            assert!((3083..=3583).contains(&c), "{counts:?}");
        }
    }

    /// Removing one endpoint moves only its series, each to its second-ranked endpoint, and the
    /// others' assignment does not change.
    #[test]
    fn removing_an_endpoint_moves_only_its_series() {
        let r = Rendezvous::new(EPS).unwrap();
        let (mut moved, mut kept) = (0, 0);
        for i in 0..3000 {
            let id = format!("series-{i}");
            let before = r.route(&id, &[true; 3]).unwrap();
            let after = r.route(&id, &[true, false, true]).unwrap();
            if before == 1 {
                assert_eq!(after, r.ranking(&id)[1]);
                moved += 1;
            } else {
                assert_eq!(after, before);
                kept += 1;
            }
        }
        assert!(moved > 900 && kept > 1800, "{moved} moved, {kept} kept");
        assert_eq!(r.route("x", &[false; 3]), None);
    }

    fn endpoint_set() -> impl Strategy<Value = Vec<String>> {
        prop::collection::btree_set("[a-z0-9.-]{1,12}:[0-9]{1,5}", 1..7)
            .prop_map(|s| s.into_iter().map(|e| format!("http://{e}")).collect())
    }

    proptest! {
        /// The route of a series names the same endpoint whatever order the endpoints are given in.
        #[test]
        fn route_ignores_endpoint_order(eps in endpoint_set(), id in ".{0,24}", rot in 0usize..7) {
            let a = Rendezvous::new(&eps).unwrap();
            let mut shuffled = eps.clone();
            shuffled.reverse();
            let k = rot % shuffled.len();
            shuffled.rotate_left(k);
            let b = Rendezvous::new(&shuffled).unwrap();
            let ea = &a.endpoints()[a.route(&id, &all_live(&a)).unwrap()];
            let eb = &b.endpoints()[b.route(&id, &all_live(&b)).unwrap()];
            prop_assert_eq!(ea, eb);
        }

        /// Failing over inside a list (some endpoints marked dead) routes every series where a
        /// client given only the live endpoints would: the rule holds across client instances
        /// that disagree only on which servers are gone.
        #[test]
        fn failover_matches_a_client_without_the_dead_endpoints(
            eps in endpoint_set(),
            id in ".{0,24}",
            dead in prop::collection::vec(any::<bool>(), 7),
        ) {
            let full = Rendezvous::new(&eps).unwrap();
            let live: Vec<bool> = (0..eps.len()).map(|i| !dead[i]).collect();
            let survivors: Vec<&String> = eps.iter().zip(&live).filter(|(_, l)| **l).map(|(e, _)| e).collect();
            let routed = full.route(&id, &live).map(|i| full.endpoints()[i].clone());
            if survivors.is_empty() {
                prop_assert_eq!(routed, None);
            } else {
                let fresh = Rendezvous::new(&survivors).unwrap();
                let expected = fresh.route(&id, &all_live(&fresh)).map(|i| fresh.endpoints()[i].clone());
                prop_assert_eq!(routed, expected);
            }
        }

        /// Removing endpoint `k`: series elsewhere stay, series on `k` go to their next-ranked
        /// endpoint; adding it back moves exactly those series back.
        #[test]
        fn removal_moves_only_the_removed_endpoints_series(
            eps in endpoint_set(),
            ids in prop::collection::vec(".{0,16}", 1..40),
            k in 0usize..7,
        ) {
            prop_assume!(eps.len() >= 2);
            let r = Rendezvous::new(&eps).unwrap();
            let k = k % eps.len();
            let mut live = all_live(&r);
            live[k] = false;
            for id in &ids {
                let before = r.route(id, &all_live(&r)).unwrap();
                let after = r.route(id, &live).unwrap();
                if before == k {
                    prop_assert_eq!(after, r.ranking(id)[1]);
                } else {
                    prop_assert_eq!(after, before);
                }
            }
        }

        /// A ranking is a permutation of the endpoints, weights non-increasing.
        #[test]
        fn ranking_is_a_permutation_by_weight(eps in endpoint_set(), id in ".{0,24}") {
            let r = Rendezvous::new(&eps).unwrap();
            let ranking = r.ranking(&id);
            let mut sorted = ranking.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..eps.len()).collect::<Vec<_>>());
            for w in ranking.windows(2) {
                prop_assert!(weight(&r.endpoints()[w[0]], &id) >= weight(&r.endpoints()[w[1]], &id));
            }
        }
    }
}
