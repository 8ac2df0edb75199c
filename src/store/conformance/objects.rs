//! Real protocol objects for the store suites: pending withdrawals, coins,
//! payments and double-spending evidence made by the protocol's own steps
//! (no bank store involved), so every suite stores what a role stores.

use curve25519_dalek::scalar::Scalar;
use rand::rngs::OsRng;

use crate::crypto::acl::SignerSession;
use crate::crypto::schnorr::SigningKey;
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{
    merchant_account_id, AccountId, AccountKeys, BankSecrets, Keyset, KeysetPolicy, KeysetSpec,
};
use crate::params::Params;
use crate::protocol::deposit::DoubleSpendEvidence;
use crate::protocol::pay::{create_payment, Payment, PaymentRequest};
use crate::protocol::withdraw::{
    commitment_digest, PendingWithdrawal, WalletCoin, WithdrawAnswer, WithdrawCommitment, WithdrawStart,
};
use crate::store::PendingEntry;
use crate::time::Day;

/// The day every object lives on.
pub const TODAY: Day = Day(20_781);

/// A keyset with its secrets, one user and one merchant.
pub struct Objects {
    secrets: BankSecrets,
    /// The keyset every coin is issued under.
    pub keyset: Keyset,
    /// The user who withdraws and pays.
    pub user: AccountKeys,
    merchant: SigningKey,
}

impl Default for Objects {
    fn default() -> Self {
        Self::new()
    }
}

impl Objects {
    /// Fresh keys and a keyset of denominations 1 to 16.
    pub fn new() -> Self {
        let rng = &mut OsRng;
        let mut secrets = BankSecrets::generate(rng);
        let ttp = Point::new(Params::get().g.point() * Scalar::random(rng));
        let spec = KeysetSpec {
            exponents: 0..=4,
            withdraw_from: TODAY,
            withdraw_days: 30,
            policy: KeysetPolicy::default(),
        };
        let keyset = secrets.issue_keyset(None, ttp, &spec, rng).expect("keyset");
        Objects { secrets, keyset, user: AccountKeys::generate(rng), merchant: SigningKey::generate(rng) }
    }

    /// The merchant's account.
    pub fn merchant_id(&self) -> AccountId {
        merchant_account_id(self.merchant.public())
    }

    /// A withdrawal of one coin of `value`, just started.
    pub fn started(&self, value: u64) -> WithdrawStart {
        WithdrawStart::new(&self.user, &self.keyset, value, TODAY, &mut OsRng).expect("withdraw start")
    }

    /// The bank's side of `start`'s session: its first message and the
    /// signer state that answers it.
    fn open(&self, start: &WithdrawStart) -> (SignerSession, WithdrawCommitment) {
        let req = start.request();
        let key = self.keyset.key(&req.key_id).expect("key");
        let x = self.secrets.denomination_secret(&req.key_id).expect("secret").expose_secret();
        let (signer, commitment) =
            SignerSession::open(x, &key.acl(), &req.commitment, req.session_id.as_bytes(), &mut OsRng);
        let online = self.secrets.online_signing_key(self.keyset.signing_key()).expect("online key");
        let signature = online.sign(
            labels::WITHDRAW_COMMITMENT_SIGNATURE,
            &commitment_digest(req, &commitment),
            &mut OsRng,
        );
        (signer, WithdrawCommitment { session_id: req.session_id, commitment, signature })
    }

    /// A withdrawal waiting for the bank's answer, and that answer.
    pub fn awaiting(&self, start: WithdrawStart) -> (PendingWithdrawal, WithdrawAnswer) {
        let key_id = start.request().key_id;
        let (signer, commitment) = self.open(&start);
        let pending = start.receive_commitment(&self.user, &commitment, &mut OsRng).expect("commitment");
        let x = self.secrets.denomination_secret(&key_id).expect("secret").expose_secret();
        let (_, answer) = signer.answer(x, &pending.challenge().e);
        let session_id = pending.session_id();
        (pending, WithdrawAnswer::answered(session_id, answer))
    }

    /// A finished coin of `value`.
    pub fn coin(&self, value: u64) -> WalletCoin {
        let (pending, answer) = self.awaiting(self.started(value));
        pending.finish(&answer).expect("coin")
    }

    /// Both pending states of one fresh withdrawal of `value`.
    pub fn pending_entries(&self, value: u64) -> (PendingEntry, PendingEntry) {
        let start = self.started(value);
        let started = PendingEntry::Started(Box::new(start.clone()));
        let (pending, _) = self.awaiting(start);
        (started, PendingEntry::AwaitingAnswer(Box::new(pending)))
    }

    /// A payment request of the merchant for `amount`.
    pub fn request(&self, amount: u64) -> PaymentRequest {
        PaymentRequest::new(self.merchant_id(), *self.merchant.public(), amount, TODAY, [3; 32], &mut OsRng)
    }

    /// A payment of `coins` (their whole value) answering a fresh request.
    pub fn payment(&self, coins: &[&WalletCoin]) -> Payment {
        let amount = coins.iter().map(|c| c.value).sum();
        create_payment(&self.request(amount), &self.keyset, self.user.identity(), coins, &mut OsRng)
            .expect("payment")
    }

    /// Evidence of a double spend of a fresh coin: two payments of it.
    pub fn double_spend(&self) -> DoubleSpendEvidence {
        let coin = self.coin(2);
        let (first, second) = (self.payment(&[&coin]), self.payment(&[&coin]));
        DoubleSpendEvidence { coin_id: coin.coin.id(), first, first_index: 0, second, second_index: 0 }
    }
}

/// The JSON form of a value: the suites compare stored objects by it (not
/// every stored type has `PartialEq`, and the JSON form carries every field).
pub fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serializes")
}
