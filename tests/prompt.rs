//! A recovery phrase typed at the terminal prompt is not shown: the CLI
//! switches the terminal's echo off while it reads (src/cli/files.rs).
//! The test types a phrase into a pseudo-terminal and reads back what the
//! terminal displayed.
#![cfg(unix)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

const PHRASE: &str = "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo";

#[test]
fn a_phrase_typed_at_the_prompt_is_not_echoed_and_the_terminal_is_restored() {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let slave_path = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(slave_path.to_str().expect("pts path"))
        .expect("open the terminal");
    let probe = slave.try_clone().expect("dup");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faircash"))
        .args(["wallet", "restore", "--dir"])
        .arg(dir.path().join("w"))
        .args(["--bank", "http://127.0.0.1:9"])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faircash");
    let mut stderr = child.stderr.take().unwrap();
    // Type only once the prompt is shown: echo is switched off before it.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("recovery phrase") {
        assert_eq!(
            stderr.read(&mut byte).expect("stderr"),
            1,
            "no prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(byte[0]);
    }
    let mut typing = std::fs::File::from(master.try_clone().expect("dup"));
    typing.write_all(format!("{PHRASE}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    stderr.read_to_end(&mut seen).unwrap();
    let stderr = String::from_utf8_lossy(&seen).into_owned();
    // A phrase with a bad checksum: refused as invalid input, nothing made.
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(!dir.path().join("w").exists(), "a directory was left: {stderr}");
    assert!(!stderr.contains("zoo"), "the error repeats the phrase: {stderr}");

    // What the terminal displayed: the newline (ECHONL), never the words.
    let shown = read_available(&master);
    assert!(!shown.contains("zoo"), "the phrase was echoed: {shown:?}");

    // And the terminal's echo is back on for whatever runs next.
    let modes = rustix::termios::tcgetattr(&probe).expect("tcgetattr");
    assert!(modes.local_modes.contains(rustix::termios::LocalModes::ECHO), "echo left off");
}

/// Everything the terminal has to show now, without waiting for more.
fn read_available(master: &rustix::fd::OwnedFd) -> String {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(master).unwrap();
    fcntl_setfl(master, flags | OFlags::NONBLOCK).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
