//! Shared encoding of store records for the SQL stores: records are a
//! version byte and their postcard encoding; integers are checked into and
//! out of the databases' signed 64-bit columns.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;

pub(crate) const RECORD_VERSION: u8 = 1;

pub(crate) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    out.extend(postcard::to_allocvec(v).expect("in-memory encoding never fails"));
    out
}

pub(crate) fn dec<T: DeserializeOwned>(b: &[u8]) -> StoreResult<T> {
    match b.split_first() {
        Some((&RECORD_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StoreError::Corrupt(format!("record: {e}")))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record version {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

pub(crate) fn to_i64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("value {v} exceeds the store's range")))
}

pub(crate) fn to_u64(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

pub(crate) fn arr<const N: usize>(v: Vec<u8>) -> StoreResult<[u8; N]> {
    v.try_into().map_err(|_| StoreError::Corrupt(format!("expected {N} bytes")))
}

#[derive(Serialize, serde::Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) request: crate::protocol::withdraw::WithdrawRequest,
    pub(crate) value: u64,
    pub(crate) commitment: SignerCommitment,
}

/// A session record written before withdrawal requests named a
/// reservation: the same fields with the request's `reservation` absent.
/// Answered sessions are withdrawal records kept for coin tracing, so they
/// are read back for as long as the bank keeps them.
#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct LegacySessionRecord {
    pub(crate) request: LegacyWithdrawRequest,
    pub(crate) value: u64,
    pub(crate) commitment: SignerCommitment,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct LegacyWithdrawRequest {
    pub(crate) session_id: SessionId,
    pub(crate) account: AccountId,
    pub(crate) keyset_id: crate::keys::KeysetId,
    pub(crate) key_id: crate::keys::KeyId,
    pub(crate) expiry: Day,
    pub(crate) commitment: Point,
    pub(crate) escrow: crate::crypto::elgamal::Ciphertext,
    pub(crate) proof: crate::crypto::schnorr::Proof,
}

fn session_record(b: &[u8]) -> StoreResult<SessionRecord> {
    match dec::<SessionRecord>(b) {
        Ok(r) => Ok(r),
        Err(current) => match dec::<LegacySessionRecord>(b) {
            Ok(l) => Ok(SessionRecord {
                request: crate::protocol::withdraw::WithdrawRequest {
                    session_id: l.request.session_id,
                    account: l.request.account,
                    keyset_id: l.request.keyset_id,
                    key_id: l.request.key_id,
                    expiry: l.request.expiry,
                    commitment: l.request.commitment,
                    escrow: l.request.escrow,
                    reservation: None,
                    proof: l.request.proof,
                },
                value: l.value,
                commitment: l.commitment,
            }),
            Err(_) => Err(current),
        },
    }
}

pub(crate) fn kind_code(k: AccountKind) -> i64 {
    match k {
        AccountKind::User => 0,
        AccountKind::Merchant => 1,
    }
}

pub(crate) type AccountRow = (Vec<u8>, i64, Vec<u8>, i64, bool, i64, Option<Vec<u8>>);
pub(crate) type SessionStateColumns = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>);

pub(crate) fn point_from(v: Vec<u8>, what: &str) -> StoreResult<Point> {
    Point::from_bytes(&arr(v)?).ok_or_else(|| StoreError::Corrupt(what.into()))
}

pub(crate) fn day_from(d: i64) -> StoreResult<Day> {
    u32::try_from(d).map(Day).map_err(|_| StoreError::Corrupt("day".into()))
}

pub(crate) fn account_from_parts(p: AccountRow) -> StoreResult<Account> {
    let (id, kind, pk, balance, frozen, registered, auth_key) = p;
    Ok(Account {
        id: AccountId(arr(id)?),
        kind: match kind {
            0 => AccountKind::User,
            1 => AccountKind::Merchant,
            k => return Err(StoreError::Corrupt(format!("account kind {k}"))),
        },
        public_key: Point::from_bytes(&arr(pk)?).ok_or_else(|| StoreError::Corrupt("account key".into()))?,
        balance: to_u64(balance)?,
        frozen,
        registered: Day(u32::try_from(registered).map_err(|_| StoreError::Corrupt("day".into()))?),
        auth_key: auth_key.map(|k| point_from(k, "authentication key")).transpose()?,
    })
}

pub(crate) type IdentityRow = (Vec<u8>, Vec<u8>, i64, Option<i64>, bool);

pub(crate) fn identity_from_parts(p: IdentityRow) -> StoreResult<IdentityRecord> {
    let (identity, account, since, retired, revealed) = p;
    Ok(IdentityRecord {
        identity: point_from(identity, "identity")?,
        account: AccountId(arr(account)?),
        since: day_from(since)?,
        retired: retired.map(day_from).transpose()?,
        revealed,
    })
}

pub(crate) fn event_kind_code(k: crate::protocol::account::AccountEventKind) -> i64 {
    use crate::protocol::account::AccountEventKind as K;
    match k {
        K::Registered => 0,
        K::Frozen => 1,
        K::Unfrozen => 2,
        K::Rekeyed => 3,
        K::AuthKeyRotated => 4,
    }
}

pub(crate) type EventRow = (Vec<u8>, i64, i64, String);

pub(crate) fn event_from_parts(p: EventRow) -> StoreResult<(AccountId, AccountEvent)> {
    use crate::protocol::account::AccountEventKind as K;
    let (account, at, kind, reason) = p;
    let kind = match kind {
        0 => K::Registered,
        1 => K::Frozen,
        2 => K::Unfrozen,
        3 => K::Rekeyed,
        4 => K::AuthKeyRotated,
        k => return Err(StoreError::Corrupt(format!("account event kind {k}"))),
    };
    Ok((AccountId(arr(account)?), AccountEvent { at: Timestamp(to_u64(at)?), kind, reason }))
}

pub(crate) type ReservationRow = (Vec<u8>, Vec<u8>, i64, i64, i64, i64, bool);

pub(crate) fn reservation_from_parts(p: ReservationRow) -> StoreResult<Reservation> {
    let (id, account, amount, drawn, created, expires, released) = p;
    Ok(Reservation {
        id: ReservationId(arr(id)?),
        account: AccountId(arr(account)?),
        amount: to_u64(amount)?,
        drawn: to_u64(drawn)?,
        created: Timestamp(to_u64(created)?),
        expires: Timestamp(to_u64(expires)?),
        released,
    })
}

pub(crate) type SessionRow =
    (Vec<u8>, i64, i64, i64, i64, Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>);

pub(crate) fn session_from_parts(p: SessionRow) -> StoreResult<WithdrawSession> {
    let (record, state, opened, expires, epoch, signer, answer, answered_at, identity) = p;
    let rec = session_record(&record)?;
    let identity = point_from(
        identity.ok_or_else(|| StoreError::Corrupt("session without an identity".into()))?,
        "session identity",
    )?;
    let state = match (state, signer, answer) {
        (0, Some(s), None) => SessionState::Open(dec(&s)?),
        (1, None, Some(a)) => {
            SessionState::Answered { answered: dec(&a)?, at: Timestamp(to_u64(answered_at.unwrap_or(0))?) }
        }
        (2, None, None) => SessionState::Expired,
        _ => return Err(StoreError::Corrupt("session state".into())),
    };
    Ok(WithdrawSession {
        request: rec.request,
        value: rec.value,
        commitment: rec.commitment,
        opened: Timestamp(to_u64(opened)?),
        expires: Timestamp(to_u64(expires)?),
        epoch: to_u64(epoch)?,
        identity,
        state,
    })
}

pub(crate) type SpentRow =
    (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, i64, i64, Vec<u8>, i64, i64, i64, Option<Vec<u8>>);

pub(crate) fn spent_from_parts(p: SpentRow) -> StoreResult<SpentCoin> {
    let (coin_id, serial, challenge, merchant, day, receipt_day, digest, index, value, prune, keyset) = p;
    let day32 = |d: i64| u32::try_from(d).map(Day).map_err(|_| StoreError::Corrupt("day".into()));
    Ok(SpentCoin {
        coin_id: CoinId(arr(coin_id)?),
        serial: Point::from_bytes(&arr(serial)?).ok_or_else(|| StoreError::Corrupt("serial".into()))?,
        challenge: crate::encoding::scalar::decode(arr(challenge)?)
            .ok_or_else(|| StoreError::Corrupt("challenge".into()))?,
        merchant: AccountId(arr(merchant)?),
        day: day32(day)?,
        receipt_day: day32(receipt_day)?,
        payment_digest: arr(digest)?,
        coin_index: u32::try_from(index).map_err(|_| StoreError::Corrupt("index".into()))?,
        value: to_u64(value)?,
        keyset: crate::keys::KeysetId(arr(
            keyset.ok_or_else(|| StoreError::Corrupt("spent coin keyset".into()))?
        )?),
        prune_after: day32(prune)?,
    })
}

/// The columns of a session: the record, the state code, the signer state
/// (open only), the answer (answered only) and when it was answered.
pub(crate) fn session_columns(s: &WithdrawSession) -> StoreResult<(Vec<u8>, SessionStateColumns)> {
    let record = enc(&SessionRecord { request: s.request.clone(), value: s.value, commitment: s.commitment });
    let state = match &s.state {
        SessionState::Open(sig) => (0, Some(enc(sig)), None, None),
        SessionState::Answered { answered, at } => (1, None, Some(enc(answered)), Some(to_i64(at.0)?)),
        SessionState::Expired => (2, None, None, None),
    };
    Ok((record, state))
}

/// A withdrawal plan stored before plans named their coins' values: its
/// coins are the binary decomposition of the reserved amount.
#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct LegacyPlanRecord {
    pub(crate) request: crate::protocol::account::AccountRequest,
}

/// A stored withdrawal plan, current or legacy.
pub(crate) fn plan_record(b: &[u8]) -> StoreResult<WithdrawalPlan> {
    match dec::<WithdrawalPlan>(b) {
        Ok(p) => Ok(p),
        Err(current) => match dec::<LegacyPlanRecord>(b) {
            Ok(l) => Ok(WithdrawalPlan { request: l.request, values: Vec::new() }),
            Err(_) => Err(current),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::account::{AccountOperation, AccountRequest};

    #[test]
    fn plans_stored_before_they_named_values_read_back_as_the_binary_decomposition() {
        let keys = crate::keys::AccountKeys::generate(&mut rand::rngs::OsRng);
        let reservation = ReservationId::random(&mut rand::rngs::OsRng);
        let request = AccountRequest::new(
            &keys,
            AccountOperation::ReserveWithdrawal { reservation, amount: 7 },
            &mut rand::rngs::OsRng,
        );
        let legacy = enc(&LegacyPlanRecord { request: request.clone() });
        let read = plan_record(&legacy).unwrap();
        assert_eq!(read.reservation(), Some((reservation, 7)));
        assert!(read.values.is_empty());
        assert_eq!(read.remaining_values(0), None, "the greedy decomposition of the rest");
        let current = enc(&WithdrawalPlan { request, values: vec![4, 2, 1] });
        let read = plan_record(&current).unwrap();
        assert_eq!(read.values, vec![4, 2, 1]);
        assert_eq!(read.remaining_values(0), Some(vec![4, 2, 1]));
        assert_eq!(read.remaining_values(4), Some(vec![2, 1]));
        assert_eq!(read.remaining_values(6), Some(vec![1]));
        assert_eq!(read.remaining_values(7), Some(vec![]));
        assert_eq!(read.remaining_values(5), None, "no prefix sums to 5");
        assert!(plan_record(&legacy[..legacy.len() - 1]).is_err());
    }
}
