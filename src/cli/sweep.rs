//! `wallet restore --sweep-to NEWDIR`: recovery from theft
//! (specs/protocol.md §7.8). A new wallet with a new recovery phrase and a
//! new account is made in NEWDIR, and all the value of the old phrase's
//! account moves to it; `wallet resume --dir NEWDIR` finishes a sweep that
//! was interrupted.

use std::path::Path;

use rand::rngs::OsRng;
use serde_json::json;

use super::files::{read_secret, read_secret_stdin, write_secret};
use super::output::Output;
use super::wallet::{
    create_wallet, load_pinned, prepare_new, refuse_nonempty, restore_failed, RestoreArgs, WalletHome,
};
use super::CliError;
use crate::crypto::derive::{RecoveryPhrase, WalletSeed};
use crate::keys::AccountId;
use crate::roles::wallet::{find_account, SweepError, SweepReport};
use crate::roles::BankApi;

/// A sweep's failure as a CLI error.
fn sweep_failed(e: SweepError) -> CliError {
    match e {
        SweepError::Restore(r) => restore_failed(r),
        SweepError::SameAccount => CliError::Input(e.to_string()),
    }
}

/// `wallet restore --sweep-to NEWDIR --bank BANK`: checks the old phrase
/// (read from stdin) against the bank before anything is written, makes
/// the new wallet (its phrase shown once), stores the old phrase's seed in
/// `NEWDIR/sweep.key` until the sweep is finished, and sweeps.
pub(super) fn run_sweep(args: &RestoreArgs, new: &Path, out: &Output) -> Result<(), CliError> {
    let bank = args.bank.as_deref().ok_or_else(|| CliError::Usage("--sweep-to needs --bank".into()))?;
    let home = WalletHome { dir: new.to_path_buf() };
    refuse_nonempty(new, "sweep")?;
    let text = read_secret_stdin("recovery phrase of the wallet to sweep")?;
    let old = RecoveryPhrase::parse(&text)
        .map_err(|e| CliError::Input(format!("the recovery phrase: {e}")))?
        .seed();
    let made = !new.exists();
    let prepared = (|| {
        let b = prepare_new(new, Some(bank), args.bank_key.as_deref(), &args.ttp, out)?
            .ok_or_else(|| CliError::Usage("--bank is required".into()))?;
        let master = load_pinned(new)?.0.master_key;
        find_account(&old, &master, &*b, &mut OsRng).map_err(restore_failed)?;
        Ok::<_, CliError>(b)
    })();
    let b = match prepared {
        Ok(b) => b,
        Err(e) => {
            if made {
                // Only what this command created.
                let _ = std::fs::remove_dir_all(new);
            } else {
                let _ = std::fs::read_dir(new).map(|d| {
                    d.flatten().for_each(|f| {
                        let _ = std::fs::remove_file(f.path());
                    })
                });
            }
            return Err(e);
        }
    };
    // The old seed is stored before the new account exists, so that every
    // later step can be finished by `wallet resume`.
    write_secret(&home.sweep(), &old)?;
    let created = create_wallet(new, Some(&*b), args.bank_key.as_deref(), out)?;
    // The new phrase is shown now, once: the sweep may stop midway.
    let shown = created.shown_phrase(out, args.phrase_in_json).map(str::to_string);
    if let Some(p) = &shown {
        if !out.is_json() {
            println!(
                "wallet created in {}; account {} open at the bank\nnew recovery phrase (write it down; it is not \
                 shown again, it restores the new wallet):\n{p}",
                new.display(),
                created.id
            );
        }
    }
    let result = sweep(&home, &old, &*b, false, out);
    if let (Err(_), Some(p), true) = (&result, &shown, out.is_json()) {
        // The JSON result with the phrase is not printed after a failure.
        eprintln!("new recovery phrase (write it down; it is not shown again):\n{p}");
    }
    let (report, account) = result?;
    print_report(&report, account, new, out, if out.is_json() { shown.as_deref() } else { None })
}

/// `wallet resume --dir NEWDIR` of a wallet with a sweep under way:
/// finishes the sweep. `Ok(false)` when none is under way.
pub(super) fn resume_sweep(dir: &Path, bank: &dyn BankApi, out: &Output) -> Result<bool, CliError> {
    let home = WalletHome { dir: dir.to_path_buf() };
    if !home.sweep().exists() {
        return Ok(false);
    }
    let old: WalletSeed = read_secret(&home.sweep())?;
    let (report, account) = sweep(&home, &old, bank, true, out)?;
    print_report(&report, account, dir, out, None)?;
    Ok(true)
}

/// Runs (or runs again) the sweep of `old` into the wallet of `home`, and
/// removes the stored old seed once it is finished. Again (`resumed`),
/// the new account's registration is sent first: a crash may have come
/// before it reached the bank (registering the same keys again changes
/// nothing).
fn sweep(
    home: &WalletHome,
    old: &WalletSeed,
    bank: &dyn BankApi,
    resumed: bool,
    out: &Output,
) -> Result<(SweepReport, AccountId), CliError> {
    let (wallet, _, _, _lock) = home.open(out)?;
    if resumed {
        bank.register_user(&wallet.registration(&mut OsRng))?;
    }
    let bar = out.progress(0, "restoring the old wallet");
    let report = wallet
        .sweep_from(old, bank, &mut OsRng, |p| {
            if let crate::roles::wallet::RestoreProgress::Matched { matched, listed } = p {
                bar.set_length(listed as u64);
                bar.set_position(matched as u64);
            }
        })
        .map_err(sweep_failed)?;
    bar.finish_and_clear();
    std::fs::remove_file(home.sweep())
        .map_err(|e| CliError::Io(format!("{}: {e}", home.sweep().display())))?;
    Ok((report, wallet.account_id()))
}

/// Prints what a sweep did; exit code 5 if the bank withheld a coin of the
/// old account (its transcript does not verify) or left a spent coin of it
/// out of its spent lists.
fn print_report(
    r: &SweepReport,
    account: AccountId,
    dir: &Path,
    out: &Output,
    phrase: Option<&str>,
) -> Result<(), CliError> {
    let old = r.old_account.map(|a| a.to_string()).unwrap_or_default();
    let withheld: Vec<_> = r
        .restore
        .withheld
        .iter()
        .map(|(s, why)| json!({"session": hex::encode(s.as_bytes()), "reason": why.name()}))
        .collect();
    out.result(
        || {
            format!(
                "swept account {old} into {}: {} coin(s) recovered, {} withdrawn from the old account, {} paid \
                 to the new wallet ({} coin(s)), {} coin(s) spent before the sweep and not paid ({} left out of \
                 the spent lists by the bank), {} credited to the new account, {} refused as spent before; \
                 {} fresh coin(s) worth {} under the new phrase; {} withheld by the bank",
                dir.display(),
                r.restore.recovered.len(),
                r.old_balance,
                r.paid_value,
                r.paid.len(),
                r.spent_check.spent.len(),
                r.spent_check.omissions.len(),
                r.credited,
                r.refused_value,
                r.fresh.len(),
                r.fresh_value,
                r.restore.withheld.len(),
            )
        },
        json!({
            "account": account,
            "old_account": old,
            "recovered": r.restore.recovered.len(),
            "recovered_value": r.restore.recovered_value(),
            "old_balance": r.old_balance,
            "paid": r.paid.len(),
            "paid_value": r.paid_value,
            "skipped": r.skipped.len(),
            "spent_before": r.spent_check.spent.len(),
            "spent_lists": {"pages": r.spent_check.pages, "keys": r.spent_check.keys, "sequence": r.spent_check.sequence},
            "omissions": super::wallet::omissions_json(&r.spent_check),
            "credited": r.credited,
            "refused_value": r.refused_value,
            "fresh": r.fresh,
            "fresh_value": r.fresh_value,
            "withheld": withheld,
            "recovery_phrase": phrase,
        }),
    );
    if !r.spent_check.omissions.is_empty() {
        return Err(CliError::Security(format!(
            "the bank left {} spent coin(s) of the old account out of its spent lists (not paid; the proof is in \
             the --json report)",
            r.spent_check.omissions.len()
        )));
    }
    if !r.restore.withheld.is_empty() {
        return Err(CliError::Security(format!(
            "the bank withheld {} coin(s) of the old account: their transcripts do not verify",
            r.restore.withheld.len()
        )));
    }
    Ok(())
}
