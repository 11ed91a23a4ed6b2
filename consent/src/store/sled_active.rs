//! The values of the sled store's active index: a citizen's active consents for one purpose,
//! each in a compact binary encoding.
//!
//! A decision's ledger lookup reads one value of the active index (key `citizen · purpose`):
//! the citizen's active consents for the purpose, every grantee, in one read; the
//! consents of the caseworker's lineage are picked by their grantee without decoding the
//! others, and decoded here, with no JSON and no second read of the `consents` tree. The
//! encoding is private to the sled adapter and derived (the `consents` tree's JSON stays the
//! record): a store whose index has another layout rebuilds it at open (`SledStore::open`).
//!
//! A value is a sequence of entries, each a `u32` length and a consent, ordered by grantee,
//! then consent id. A consent, layout [`VERSION`]: one version byte, the id (16 bytes), the
//! citizen (10 ASCII digits), the grantee, then the other fields of [`Consent`] in
//! declaration order. Integers are little-endian; a time is `i64` seconds and `u32`
//! nanoseconds since the epoch; a date is `i32` days from the common era; a string is a
//! `u32` length and UTF-8 bytes; an option a `0`/`1` byte before the value; an enum a tag
//! byte. `encode` destructures every struct whole, so a field added to the record without
//! a place here does not compile.

use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{
    Channel, Consent, ConsentId, ConsentText, DataPeriod, Grantor, PaperRecord, Period, Privilege, Requester, State,
    Terms,
};
use crate::vocabulary::{Category, Purpose};

/// The layout written by this build.
pub(super) const VERSION: u8 = 1;

/// The entries of one index value, in order.
pub(super) fn entries(value: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let mut r = Reader(value);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let n = r.u32()? as usize;
        if r.0.len() < n || n < 1 + 16 + 10 + 4 {
            return Err(corrupt("an entry cut short"));
        }
        let (entry, rest) = r.0.split_at(n);
        r.0 = rest;
        out.push(entry);
    }
    Ok(out)
}

/// An entry's consent id, read without decoding the rest.
pub(super) fn entry_id(entry: &[u8]) -> &[u8] {
    &entry[1..17]
}

/// An entry's grantee, read without decoding the rest.
pub(super) fn entry_grantee(entry: &[u8]) -> Result<&str, StoreError> {
    Reader(&entry[1 + 16 + 10..]).str()
}

/// The index value `old` (absent: no entries) with `consent`'s entry replaced: by its
/// encoding while it is active, by nothing otherwise. `None` when no entry is left.
pub(super) fn replace(old: Option<&[u8]>, consent: &Consent) -> Result<Option<Vec<u8>>, StoreError> {
    let mut kept: Vec<std::borrow::Cow<'_, [u8]>> = match old {
        None => Vec::new(),
        Some(v) => entries(v)?.into_iter().filter(|e| entry_id(e) != consent.id.as_bytes()).map(Into::into).collect(),
    };
    if consent.state == State::Active {
        kept.push(encode(consent).into());
    }
    if kept.is_empty() {
        return Ok(None);
    }
    let mut keyed = Vec::with_capacity(kept.len());
    for e in &kept {
        keyed.push((entry_grantee(e)?, entry_id(e), e));
    }
    keyed.sort();
    let mut value = Vec::with_capacity(kept.iter().map(|e| e.len() + 4).sum());
    for (_, _, e) in keyed {
        value.extend_from_slice(&(e.len() as u32).to_le_bytes());
        value.extend_from_slice(e);
    }
    Ok(Some(value))
}

/// The consent's compact encoding.
pub(super) fn encode(c: &Consent) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
    w.u8(VERSION);
    let Consent {
        id,
        terms,
        state,
        grantor,
        channel,
        requested_by,
        explanation,
        respond_by,
        paper,
        created_at,
        updated_at,
        version,
    } = c;
    w.bytes(id.as_bytes());
    let Terms { citizen, grantee, include_subunits, purpose, categories, period, data_period, text } = terms;
    w.bytes(citizen.as_bytes());
    w.str(grantee.as_str());
    w.u8(u8::from(*include_subunits));
    w.str(purpose.as_str());
    w.u32(categories.len() as u32);
    for c in categories {
        w.str(c.as_str());
    }
    let Period { from, until } = period;
    w.time(from);
    w.time(until);
    w.opt(data_period.as_ref(), |w, DataPeriod { from, until }| {
        w.date(from);
        w.opt(until.as_ref(), Writer::date);
    });
    let ConsentText { version: text_version, sha256 } = text;
    w.str(text_version);
    w.str(sha256);
    w.u8(match state {
        State::Requested => 0,
        State::Active => 1,
        State::Rejected => 2,
        State::Revoked => 3,
    });
    w.opt(grantor.as_ref(), |w, g| match g {
        Grantor::Citizen => w.u8(0),
        Grantor::PowerOfAttorney { holder, holder_name, represented_name, reference, privilege } => {
            w.u8(1);
            w.strs(&[holder, holder_name, represented_name, reference]);
            w.u8(match privilege {
                Privilege::View => 0,
                Privilege::Consent => 1,
            });
        }
        Grantor::Custody { holder, holder_name, represented_name, reference } => {
            w.u8(2);
            w.strs(&[holder, holder_name, represented_name, reference]);
        }
    });
    w.u8(match channel {
        Channel::Portal => 0,
        Channel::Api => 1,
        Channel::Cli => 2,
        Channel::Paper => 3,
    });
    w.opt(requested_by.as_ref(), Writer::requester);
    w.opt(explanation.as_ref(), |w, s| w.str(s));
    w.opt(respond_by.as_ref(), Writer::time);
    w.opt(paper.as_ref(), |w, p| {
        let PaperRecord { scan_sha256, scan_reference, registered_by, confirm_by, confirmed_at } = p;
        w.strs(&[scan_sha256, scan_reference]);
        w.requester(registered_by);
        w.time(confirm_by);
        w.opt(confirmed_at.as_ref(), Writer::time);
    });
    w.time(created_at);
    w.time(updated_at);
    w.u32(*version);
    w.0
}

/// Decodes what [`encode`] wrote; every name is checked as when it is parsed anywhere else.
pub(super) fn decode(b: &[u8]) -> Result<Consent, StoreError> {
    let mut r = Reader(b);
    match r.u8()? {
        VERSION => {}
        v => return Err(corrupt(format!("an active index value of layout {v}, not {VERSION}"))),
    }
    let id = ConsentId(uuid::Uuid::from_bytes(r.array()?));
    let citizen = Cpr::try_from(&r.array::<10>()?[..]).map_err(|_| corrupt("a citizen that is no CPR number"))?;
    let grantee = UnitId::parse(r.str()?).map_err(|e| corrupt(e.to_string()))?;
    let include_subunits = r.bool()?;
    let purpose = Purpose::parse(r.str()?).map_err(|e| corrupt(e.to_string()))?;
    let mut categories = std::collections::BTreeSet::new();
    for _ in 0..r.u32()? {
        categories.insert(Category::parse(r.str()?).map_err(|e| corrupt(e.to_string()))?);
    }
    let period = Period { from: r.time()?, until: r.time()? };
    let data_period = r.opt(|r| Ok(DataPeriod { from: r.date()?, until: r.opt(Reader::date)? }))?;
    let text = ConsentText { version: r.string()?, sha256: r.string()? };
    let state = match r.u8()? {
        0 => State::Requested,
        1 => State::Active,
        2 => State::Rejected,
        3 => State::Revoked,
        t => return Err(corrupt(format!("state tag {t}"))),
    };
    let grantor = r.opt(|r| {
        Ok(match r.u8()? {
            0 => Grantor::Citizen,
            1 => Grantor::PowerOfAttorney {
                holder: r.string()?,
                holder_name: r.string()?,
                represented_name: r.string()?,
                reference: r.string()?,
                privilege: match r.u8()? {
                    0 => Privilege::View,
                    1 => Privilege::Consent,
                    t => return Err(corrupt(format!("privilege tag {t}"))),
                },
            },
            2 => Grantor::Custody {
                holder: r.string()?,
                holder_name: r.string()?,
                represented_name: r.string()?,
                reference: r.string()?,
            },
            t => return Err(corrupt(format!("grantor tag {t}"))),
        })
    })?;
    let channel = match r.u8()? {
        0 => Channel::Portal,
        1 => Channel::Api,
        2 => Channel::Cli,
        3 => Channel::Paper,
        t => return Err(corrupt(format!("channel tag {t}"))),
    };
    let requested_by = r.opt(Reader::requester)?;
    let explanation = r.opt(Reader::string)?;
    let respond_by = r.opt(Reader::time)?;
    let paper = r.opt(|r| {
        Ok(PaperRecord {
            scan_sha256: r.string()?,
            scan_reference: r.string()?,
            registered_by: r.requester()?,
            confirm_by: r.time()?,
            confirmed_at: r.opt(Reader::time)?,
        })
    })?;
    let consent = Consent {
        id,
        terms: Terms { citizen, grantee, include_subunits, purpose, categories, period, data_period, text },
        state,
        grantor,
        channel,
        requested_by,
        explanation,
        respond_by,
        paper,
        created_at: r.time()?,
        updated_at: r.time()?,
        version: r.u32()?,
    };
    if !r.0.is_empty() {
        return Err(corrupt("an active index value longer than its consent"));
    }
    Ok(consent)
}

fn corrupt(m: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the active index: {m}"))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.u32(u32::try_from(s.len()).expect("a consent's strings are far below 4 GiB"));
        self.bytes(s.as_bytes());
    }

    fn strs(&mut self, ss: &[&String]) {
        for s in ss {
            self.str(s);
        }
    }

    fn time(&mut self, t: &DateTime<Utc>) {
        self.bytes(&t.timestamp().to_le_bytes());
        self.u32(t.timestamp_subsec_nanos());
    }

    fn date(&mut self, d: &NaiveDate) {
        use chrono::Datelike;
        self.bytes(&d.num_days_from_ce().to_le_bytes());
    }

    fn requester(&mut self, Requester { caseworker, system }: &Requester) {
        self.strs(&[caseworker, system]);
    }

    fn opt<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(|| corrupt("a value cut short"))?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn bool(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(corrupt(format!("a flag of {t}"))),
        }
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return Err(corrupt("a string cut short"));
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        std::str::from_utf8(s).map_err(|_| corrupt("a string that is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, StoreError> {
        self.str().map(str::to_owned)
    }

    fn time(&mut self) -> Result<DateTime<Utc>, StoreError> {
        let secs = i64::from_le_bytes(self.array()?);
        let nanos = self.u32()?;
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt("a time out of range"))
    }

    fn date(&mut self) -> Result<NaiveDate, StoreError> {
        let days = i32::from_le_bytes(self.array()?);
        NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| corrupt("a date out of range"))
    }

    fn requester(&mut self) -> Result<Requester, StoreError> {
        Ok(Requester { caseworker: self.string()?, system: self.string()? })
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        if self.bool()? { f(self).map(Some) } else { Ok(None) }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A consent with every optional field set and every string non-empty.
    pub(in crate::store) fn full() -> Consent {
        Consent {
            id: ConsentId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            terms: Terms {
                citizen: Cpr::parse("0101904321").unwrap(),
                grantee: UnitId::parse("aarhus.jobcenter.team-3").unwrap(),
                include_subunits: true,
                purpose: Purpose::parse("rehabilitation").unwrap(),
                categories: ["health.lae265", "jobcenter.case", "social.case"]
                    .into_iter()
                    .map(|c| Category::parse(c).unwrap())
                    .collect(),
                period: Period { from: t("2026-01-01T00:00:00Z"), until: t("2027-01-01T00:00:00.123456789Z") },
                data_period: Some(DataPeriod {
                    from: NaiveDate::from_ymd_opt(2020, 2, 29).unwrap(),
                    until: Some(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
                }),
                text: ConsentText { version: "2.1".into(), sha256: "ab".repeat(32) },
            },
            state: State::Active,
            grantor: Some(Grantor::PowerOfAttorney {
                holder: "pseudonym".into(),
                holder_name: "Ærlig Østergård".into(),
                represented_name: "Åse".into(),
                reference: "f2b1c8e4-0000-4000-8000-000000000001".into(),
                privilege: Privilege::Consent,
            }),
            channel: Channel::Paper,
            requested_by: Some(Requester { caseworker: "cw-1".into(), system: "sys".into() }),
            explanation: Some("Vi vil gerne se dine papirer".into()),
            respond_by: Some(t("2026-02-01T12:00:00Z")),
            paper: Some(PaperRecord {
                scan_sha256: "cd".repeat(32),
                scan_reference: "scan-7".into(),
                registered_by: Requester { caseworker: "cw-2".into(), system: "paper".into() },
                confirm_by: t("2026-03-01T00:00:00Z"),
                confirmed_at: Some(t("2026-02-10T08:30:00.5Z")),
            }),
            created_at: t("2026-01-01T00:00:00Z"),
            updated_at: t("2026-02-10T08:30:00.5Z"),
            version: 7,
        }
    }

    /// The same with every option empty and the other enum variants.
    fn bare() -> Consent {
        let mut c = full();
        c.terms.include_subunits = false;
        c.terms.data_period = None;
        c.state = State::Requested;
        c.grantor = None;
        c.channel = Channel::Api;
        c.requested_by = None;
        c.explanation = None;
        c.respond_by = None;
        c.paper = None;
        c
    }

    #[test]
    fn every_field_survives() {
        let mut custody = full();
        custody.grantor = Some(Grantor::Custody {
            holder: "h".into(),
            holder_name: "hn".into(),
            represented_name: "rn".into(),
            reference: "r".into(),
        });
        custody.terms.data_period =
            Some(DataPeriod { from: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(), until: None });
        let mut citizen = bare();
        citizen.grantor = Some(Grantor::Citizen);
        citizen.state = State::Revoked;
        citizen.channel = Channel::Cli;
        let mut portal = bare();
        portal.state = State::Rejected;
        portal.channel = Channel::Portal;
        if let Some(Grantor::PowerOfAttorney { privilege, .. }) = &mut portal.grantor {
            *privilege = Privilege::View;
        }
        for c in [full(), bare(), custody, citizen, portal] {
            assert_eq!(decode(&encode(&c)).unwrap(), c);
        }
    }

    #[test]
    fn smaller_than_json() {
        let c = bare();
        let compact = encode(&c).len();
        let json = serde_json::to_vec(&c).unwrap().len();
        assert!(compact * 2 < json, "compact {compact} bytes, JSON {json}");
    }

    #[test]
    fn damage_is_corruption_not_a_panic() {
        let good = encode(&full());
        // Every truncation, and a byte past the end.
        for n in 0..good.len() {
            assert!(matches!(decode(&good[..n]), Err(StoreError::Corrupt(_))), "cut at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(decode(&long), Err(StoreError::Corrupt(_))));
        // Another layout, a bad tag, a citizen that is no CPR number.
        let mut v = good.clone();
        v[0] = VERSION + 1;
        assert!(matches!(decode(&v), Err(StoreError::Corrupt(m)) if m.contains("layout")));
        let mut cpr = good.clone();
        cpr[17] = b'x';
        assert!(matches!(decode(&cpr), Err(StoreError::Corrupt(_))));
        let mut flag = good;
        // include_subunits follows version (1), id (16), CPR (10) and the grantee.
        let at = 1 + 16 + 10 + 4 + "aarhus.jobcenter.team-3".len();
        flag[at] = 2;
        assert!(matches!(decode(&flag), Err(StoreError::Corrupt(m)) if m.contains("flag")));
    }

    #[test]
    fn a_value_keeps_its_entries_by_grantee_then_id_and_drops_inactive_ones() {
        let with = |n: u128, grantee: &str, state: State| {
            let mut c = bare();
            c.id = ConsentId(uuid::Uuid::from_u128(n));
            c.terms.grantee = UnitId::parse(grantee).unwrap();
            c.state = state;
            c
        };
        let order = |v: &[u8]| -> Vec<(String, u128)> {
            entries(v)
                .unwrap()
                .into_iter()
                .map(|e| {
                    let c = decode(e).unwrap();
                    (c.terms.grantee.as_str().to_owned(), c.id.0.as_u128())
                })
                .collect()
        };
        let v = replace(None, &with(5, "b", State::Active)).unwrap().unwrap();
        let v = replace(Some(&v), &with(9, "a", State::Active)).unwrap().unwrap();
        let v = replace(Some(&v), &with(2, "b", State::Active)).unwrap().unwrap();
        assert_eq!(order(&v), [("a".into(), 9), ("b".into(), 2), ("b".into(), 5)]);
        // A new version replaces the entry; a revocation removes it; the last one leaves nothing.
        let mut newer = with(2, "b", State::Active);
        newer.version = 8;
        let v = replace(Some(&v), &newer).unwrap().unwrap();
        assert_eq!(entries(&v).unwrap().len(), 3);
        assert!(entries(&v).unwrap().iter().any(|e| decode(e).unwrap().version == 8));
        let v = replace(Some(&v), &with(9, "a", State::Revoked)).unwrap().unwrap();
        let v = replace(Some(&v), &with(5, "b", State::Revoked)).unwrap().unwrap();
        assert_eq!(order(&v), [("b".into(), 2)]);
        assert_eq!(replace(Some(&v), &with(2, "b", State::Revoked)).unwrap(), None);
        assert_eq!(replace(None, &with(3, "b", State::Requested)).unwrap(), None);
        // A length beyond the value, or too short for an entry, is corruption.
        assert!(entries(&v[..v.len() - 1]).is_err());
        assert!(entries(&[4, 0, 0, 0, 1, 2, 3, 4]).is_err());
    }
}
