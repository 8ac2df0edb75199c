//! [`HttpBank`]: the bank's messages over HTTP, for wallets and merchants.
//!
//! Every request faircash sends is safe to repeat: the same withdrawal
//! request gets the same commitment, the same challenge the same answer,
//! the same deposit request its stored receipt. So the client retries a
//! request that timed out or hit a busy or unreachable node, with backoff,
//! and fails over between the bank URLs it was given.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};

use super::{error_from_answer, routes, AccountOpened, ErrorBody, EvidenceList, BINARY};
use crate::keys::{AccountId, KeysetId, KeysetList, SignedKeyset};
use crate::protocol::account::{AccountAnswer, AccountRequest};
use crate::protocol::deposit::{DepositReceipt, DepositRequest};
use crate::protocol::register::{MerchantRegistration, UserRegistration};
use crate::protocol::spent::{SpentList, UnspentQuery, UnspentStatement};
use crate::protocol::trace::WatchList;
use crate::protocol::trust::{SignedTtpKeyStatement, TtpStatementList};
use crate::protocol::withdraw::{WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest};
use crate::protocol::{Error, Result};
use crate::roles::BankApi;
use crate::wire::WireMessage;

/// A bank reached over HTTP (one or more nodes of one bank).
#[derive(Clone, Debug)]
pub struct HttpBank {
    urls: Vec<String>,
    client: Client,
    attempts: u32,
}

impl HttpBank {
    /// A client for the nodes at `urls` (`http://host:port`, tried in order).
    pub fn new(urls: &[&str]) -> Result<Self> {
        if urls.is_empty() {
            return Err(Error::Unreachable("no bank URL".into()));
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("faircash/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        Ok(HttpBank {
            urls: urls.iter().map(|u| u.trim_end_matches('/').to_string()).collect(),
            client,
            attempts: 6,
        })
    }

    /// A client for a comma-separated list of node URLs.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let urls: Vec<&str> = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        Self::new(&urls)
    }

    /// How often a request is tried (over all nodes) before giving up.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    fn send<Req: WireMessage, Resp: WireMessage>(&self, path: &str, body: Option<&Req>) -> Result<Resp> {
        let bytes = body.map(WireMessage::to_bytes);
        let mut last = Error::Unreachable("no attempt made".into());
        for attempt in 0..self.attempts {
            let url = format!("{}{}", self.urls[attempt as usize % self.urls.len()], path);
            let rb = match &bytes {
                Some(b) => self.client.post(&url).header(CONTENT_TYPE, BINARY).body(b.clone()),
                None => self.client.get(&url),
            };
            match rb.header(ACCEPT, BINARY).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let is_binary = resp
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with(BINARY));
                    let data = match resp.bytes() {
                        Ok(d) => d,
                        Err(e) => {
                            last = Error::Unreachable(format!("{url}: {e}"));
                            backoff(attempt);
                            continue;
                        }
                    };
                    if (200..300).contains(&status) && is_binary {
                        return Resp::from_bytes(&data).map_err(Error::from);
                    }
                    let err = match serde_json::from_slice::<ErrorBody>(&data) {
                        Ok(b) => {
                            let retryable = b.error.retryable;
                            let e = error_from_answer(status, b.error);
                            if retryable && status != 429 {
                                // Wait as long as the node asks (within
                                // reason), never less than the backoff.
                                let asked = retry_after.map_or(0, |s| s.min(MAX_RETRY_AFTER_SECS));
                                last = e;
                                if attempt + 1 < self.attempts {
                                    backoff(attempt);
                                    std::thread::sleep(Duration::from_secs(asked));
                                }
                                continue;
                            }
                            e
                        }
                        Err(_) if status >= 500 => {
                            last = Error::Unreachable(format!("{url}: HTTP {status}"));
                            backoff(attempt);
                            continue;
                        }
                        Err(_) => Error::Remote {
                            status,
                            code: "unexpected-answer".into(),
                            message: format!("{url}: HTTP {status} without a faircash body"),
                            retryable: false,
                        },
                    };
                    return Err(err);
                }
                Err(e) => {
                    // Connection refused, reset, or timed out: the request is
                    // safe to send again, here or to the next node.
                    last = Error::Unreachable(format!("{url}: {e}"));
                    backoff(attempt);
                }
            }
        }
        Err(last)
    }

    /// A page of the bank's double-spending evidence: the items after the
    /// cursor `after` (0 for the oldest), at most `limit` of them.
    pub fn evidence_page(&self, after: u64, limit: usize) -> Result<EvidenceList> {
        let path = format!("{}?after={after}&limit={limit}", routes::EVIDENCE);
        let page = self.send::<AccountOpened, EvidenceList>(&path, None)?;
        if page.items.first().is_some_and(|i| i.seq <= after) || page.items.len() > limit {
            return Err(Error::Remote {
                status: 200,
                code: "unexpected-answer".into(),
                message: "the evidence page does not answer the cursor asked for".into(),
                retryable: false,
            });
        }
        Ok(page)
    }

    /// Every piece of evidence newer than the cursor `after`, page by page,
    /// and the cursor to ask with next time.
    pub fn evidence_since(&self, after: u64) -> Result<(Vec<crate::http::EvidenceItem>, u64)> {
        let mut items = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.evidence_page(cursor, crate::http::MAX_EVIDENCE_LIST)?;
            cursor = page.cursor.max(cursor);
            let more = page.more && !page.items.is_empty();
            items.extend(page.items);
            if !more {
                return Ok((items, cursor));
            }
        }
    }

    /// The bank's signed coin-tracing watch list.
    pub fn watch_list(&self) -> Result<WatchList> {
        self.send::<AccountOpened, WatchList>(routes::WATCH_LIST, None)
    }
}

/// The longest `Retry-After` the client honours before trying again.
const MAX_RETRY_AFTER_SECS: u64 = 10;

fn backoff(attempt: u32) {
    let base = 50u64 << attempt.min(5);
    let jitter = rand::Rng::gen_range(&mut rand::rngs::OsRng, 0..=base / 2);
    std::thread::sleep(Duration::from_millis(base + jitter));
}

impl BankApi for HttpBank {
    fn keysets(&self) -> Result<Vec<SignedKeyset>> {
        Ok(self.send::<AccountOpened, KeysetList>(routes::KEYSETS, None)?.keysets)
    }
    fn register_user(&self, reg: &UserRegistration) -> Result<AccountId> {
        Ok(self.send::<_, AccountOpened>(routes::USERS, Some(reg))?.account)
    }
    fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId> {
        Ok(self.send::<_, AccountOpened>(routes::MERCHANTS, Some(reg))?.account)
    }
    fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
        self.send(routes::WITHDRAWALS, Some(req))
    }
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
        let path = routes::CHALLENGE.replace("{session}", &ch.session_id.to_hex());
        self.send(&path, Some(ch))
    }
    fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
        self.send(routes::DEPOSITS, Some(req))
    }
    fn reclaim(&self, req: &crate::protocol::reclaim::ReclaimRequest) -> Result<DepositReceipt> {
        self.send(routes::RECLAIMS, Some(req))
    }
    fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>> {
        Ok(self.send::<AccountOpened, TtpStatementList>(routes::TTP_STATEMENTS, None)?.statements)
    }
    fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
        let path = routes::ACCOUNT_REQUESTS.replace("{account}", &req.account.to_hex());
        self.send(&path, Some(req))
    }
    fn spent_list(&self, keyset: &KeysetId, value: u64, page: u32) -> Result<SpentList> {
        let path = routes::SPENT_LIST
            .replace("{keyset}", &keyset.to_hex())
            .replace("{value}", &value.to_string())
            .replace("{page}", &page.to_string());
        self.send::<AccountOpened, SpentList>(&path, None)
    }
    fn unspent_statement(&self, query: &UnspentQuery) -> Result<UnspentStatement> {
        self.send(routes::UNSPENT_STATEMENTS, Some(query))
    }
}
