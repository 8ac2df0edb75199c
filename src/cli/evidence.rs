//! `faircash evidence …`: double-spending evidence, checked by anyone with
//! the bank's public keyset list alone.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::files::read_message;
use super::output::Output;
use super::CliError;
use crate::http::EvidenceList;
use crate::keys::{Keyset, KeysetList};
use crate::protocol::deposit::DoubleSpendEvidence;

/// Evidence commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Example:\n  faircash evidence verify evidence.json --keysets keysets.json")]
pub enum EvidenceCommand {
    /// Verify double-spending evidence (`bank evidence --out` writes it)
    /// with public keys only: both payments of each coin verify, and the
    /// identity extracted from them is that of the named account.
    #[command(after_help = "Examples:\n  \
        faircash evidence verify evidence.json --keysets keysets.json\n  \
        faircash evidence verify evidence.json --keysets keysets.json --bank-key 6a1f…\n\n\
        Exit status: 0 every piece of evidence holds; 3 some does not (each is reported).")]
    Verify {
        /// The evidence file (`-`: stdin).
        file: PathBuf,
        /// The bank's signed keyset list (`keysets.json` of any bank, wallet
        /// or merchant directory, or `bank keyset --out`).
        #[arg(long)]
        keysets: PathBuf,
        /// The bank master key (hex) to trust; default: the one the list is
        /// signed with (a note says so).
        #[arg(long)]
        bank_key: Option<String>,
    },
}

/// Runs an evidence command.
pub fn run(cmd: EvidenceCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        EvidenceCommand::Verify { file, keysets, bank_key } => {
            let evidence: EvidenceList = read_message(&file)?;
            let list: KeysetList = read_message(&keysets)?;
            let master = super::bank_master(&list, bank_key.as_deref(), out)?;
            let keysets = list.verify(&master)?;
            let mut rng = rand::rngs::OsRng;
            let checked: Vec<_> = evidence
                .items
                .iter()
                .map(|item| {
                    let verdict = check(&item.evidence, &keysets, &mut rng).and_then(|who| {
                        if item.account.is_some_and(|a| a != who.account) {
                            Err("it identifies another account than the one named".to_string())
                        } else {
                            Ok(who)
                        }
                    });
                    (item, verdict)
                })
                .collect();
            let bad = checked.iter().filter(|(_, v)| v.is_err()).count();
            out.result(
                || {
                    let mut lines: Vec<String> = checked
                        .iter()
                        .map(|(item, v)| match v {
                            Ok(who) => format!(
                                "coin {} spent twice: evidence holds; spender identity {} (account {})",
                                item.evidence.coin_id,
                                hex::encode(who.identity.as_bytes()),
                                who.account
                            ),
                            Err(why) => {
                                format!("coin {}: evidence does NOT hold: {why}", item.evidence.coin_id)
                            }
                        })
                        .collect();
                    lines.push(format!(
                        "{} of {} piece(s) of evidence hold",
                        checked.len() - bad,
                        checked.len()
                    ));
                    lines.join("\n")
                },
                json!({
                    "valid": bad == 0,
                    "evidence": checked.iter().map(|(item, v)| json!({
                        "coin_id": item.evidence.coin_id,
                        "valid": v.is_ok(),
                        "identity": v.as_ref().ok().map(|w| w.identity),
                        "account": v.as_ref().ok().map(|w| w.account),
                        "problem": v.as_ref().err(),
                    })).collect::<Vec<_>>(),
                }),
            );
            if bad > 0 {
                return Err(CliError::Reported {
                    code: 3,
                    message: format!("{bad} of {} piece(s) of evidence do not hold", checked.len()),
                });
            }
            Ok(())
        }
    }
}

/// Verifies one piece of evidence, every coin of both payments under the
/// keyset it names.
fn check(
    e: &DoubleSpendEvidence,
    keysets: &[Keyset],
    rng: &mut rand::rngs::OsRng,
) -> Result<crate::protocol::deposit::Identification, String> {
    for coin in e.first.coins.iter().chain(&e.second.coins) {
        if !keysets.iter().any(|k| k.id() == coin.body.keyset_id) {
            return Err(format!("keyset {} is not in the bank's list", coin.body.keyset_id));
        }
    }
    e.verify(keysets, rng).map_err(|err| err.to_string())
}
