//! A bank in front of the real one that records every request it receives
//! and may change what it answers, and sign it again with the bank's keys,
//! as a lying bank would: the transcripts it lists, its spent lists and its
//! unspent statements.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use faircash::coin::CoinId;
use faircash::keys::{AccountId, KeysetId, SignedKeyset};
use faircash::protocol::account::{AccountAnswer, AccountRequest};
use faircash::protocol::deposit::{DepositReceipt, DepositRequest};
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::spent::{SpentList, UnspentQuery, UnspentStatement};
use faircash::protocol::trust::SignedTtpKeyStatement;
use faircash::protocol::withdraw::{
    WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest, WithdrawalTranscript,
};
use faircash::protocol::Result;
use faircash::roles::BankApi;

use super::TestBank;

/// Changes a listed page of withdrawal transcripts.
pub type Tamper = Box<dyn Fn(&mut Vec<WithdrawalTranscript>) + Send + Sync>;

pub type ListTamper = Box<dyn Fn(&mut SpentList) + Send + Sync>;
pub type StatementTamper = Box<dyn Fn(&mut UnspentStatement) + Send + Sync>;

/// A bank in front of the real one that records every request it receives
/// (with the coin ids it names) and may change, and sign again with the
/// bank's master key, the lists and statements it answers (a lying bank).
pub struct Recording {
    pub bank: Arc<TestBank>,
    pub log: Mutex<Vec<String>>,
    /// Coin ids of the payments deposited through it.
    pub deposited: Mutex<Vec<CoinId>>,
    pub tamper: Tamper,
    pub list_tamper: ListTamper,
    pub statement_tamper: StatementTamper,
}

impl Recording {
    pub fn new(bank: Arc<TestBank>) -> Self {
        Recording {
            bank,
            log: Mutex::new(Vec::new()),
            deposited: Mutex::new(Vec::new()),
            tamper: Box::new(|_| {}),
            list_tamper: Box::new(|_| {}),
            statement_tamper: Box::new(|_| {}),
        }
    }
    pub fn note(&self, what: String) {
        self.log.lock().unwrap().push(what);
    }
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    pub fn lists_asked(&self) -> Vec<String> {
        self.log().into_iter().filter(|l| l.starts_with("spent-list")).collect()
    }
}

impl BankApi for Recording {
    fn keysets(&self) -> Result<Vec<SignedKeyset>> {
        self.note("keysets".into());
        BankApi::keysets(&*self.bank)
    }
    fn register_user(&self, reg: &UserRegistration) -> Result<AccountId> {
        self.note("register-user".into());
        BankApi::register_user(&*self.bank, reg)
    }
    fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId> {
        self.note("register-merchant".into());
        BankApi::register_merchant(&*self.bank, reg)
    }
    fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
        self.note("open-withdrawal".into());
        BankApi::open_withdrawal(&*self.bank, req)
    }
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
        self.note("answer-withdrawal".into());
        BankApi::answer_withdrawal(&*self.bank, ch)
    }
    fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
        let ids: Vec<CoinId> = req.payments.iter().flat_map(|p| p.coins.iter().map(|c| c.id())).collect();
        self.note(format!("deposit {}", ids.len()));
        self.deposited.lock().unwrap().extend(ids);
        BankApi::deposit(&*self.bank, req)
    }
    fn reclaim(&self, req: &faircash::protocol::reclaim::ReclaimRequest) -> Result<DepositReceipt> {
        self.note("reclaim".into());
        BankApi::reclaim(&*self.bank, req)
    }
    fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>> {
        self.note("ttp-statements".into());
        BankApi::ttp_statements(&*self.bank)
    }
    fn spent_list(&self, keyset: &KeysetId, value: u64, page: u32) -> Result<SpentList> {
        self.note(format!("spent-list {keyset} {value} {page}"));
        let mut list = BankApi::spent_list(&*self.bank, keyset, value, page)?;
        (self.list_tamper)(&mut list);
        Ok(list)
    }
    fn unspent_statement(&self, query: &UnspentQuery) -> Result<UnspentStatement> {
        self.note(format!("unspent-statement {}", query.coins.len()));
        let mut statement = BankApi::unspent_statement(&*self.bank, query)?;
        (self.statement_tamper)(&mut statement);
        Ok(statement)
    }
    fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
        self.note(req.operation.name().into());
        let mut answer = BankApi::account_request(&*self.bank, req)?;
        if let AccountAnswer::Withdrawals(page) = &mut answer {
            (self.tamper)(&mut page.sessions);
        }
        Ok(answer)
    }
}
