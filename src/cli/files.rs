//! Files of the command line: secret key files (mode 0600, refused when
//! others can read them), JSON message files, and atomic writes.
//!
//! A message file argument `-` means stdin (inputs) or stdout (`--out`), so
//! commands pipe into each other:
//! `faircash wallet pay … --out - | faircash merchant accept … --payment -`.
//! When a message goes to stdout, the command's own report goes to stderr.
//! (A file really named `-` is `./-`.)

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::CliError;
use crate::wire::WireMessage;

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, fsync, rename, fsync of the directory. A crash leaves either
/// the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CliError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        path.file_name().ok_or_else(|| CliError::Input(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let io = |e: std::io::Error| CliError::Io(format!("{}: {e}", path.display()));
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An exclusive lock on a role directory, held for the life of the process
/// (or of this value): two commands never work on one wallet at once.
pub struct DirLock {
    _file: fs::File,
}

/// Takes the exclusive lock `dir/name`, waiting for another process that
/// holds it.
pub fn lock_dir(dir: &Path, name: &str, out: &super::output::Output) -> Result<DirLock, CliError> {
    let path = dir.join(name);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            out.note(format!("waiting for another faircash process using {}", dir.display()));
            file.lock().map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(CliError::Io(format!("{}: {e}", path.display()))),
    }
    Ok(DirLock { _file: file })
}

/// Creates a directory (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), CliError> {
    fs::create_dir_all(dir).map_err(|e| CliError::Io(format!("{}: {e}", dir.display())))
}

/// Refuses a secret file that others can read or write.
#[cfg(unix)]
pub fn check_secret_permissions(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Security(format!(
            "{}: secret key file is accessible by others (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Refuses a secret file that others can read or write.
#[cfg(not(unix))]
pub fn check_secret_permissions(_path: &Path) -> Result<(), CliError> {
    Ok(())
}

/// Writes a secret as JSON with mode 0600; refuses to overwrite.
pub fn write_secret<T: Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    if path.exists() {
        return Err(CliError::Refused(format!("{}: exists already; not overwriting a key", path.display())));
    }
    // The text holds the secret: wiped once written.
    let text = zeroize::Zeroizing::new(
        serde_json::to_string_pretty(value).map_err(|e| CliError::Io(e.to_string()))?,
    );
    write_atomic(path, text.as_bytes(), true)
}

/// Writes a secret as JSON with mode 0600, replacing the file atomically.
pub fn write_secret_replace<T: Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let text = zeroize::Zeroizing::new(
        serde_json::to_string_pretty(value).map_err(|e| CliError::Io(e.to_string()))?,
    );
    write_atomic(path, text.as_bytes(), true)
}

/// Reads a secret JSON file after checking its permissions.
pub fn read_secret<T: DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    check_secret_permissions(path)?;
    // The text holds the secret: wiped once parsed.
    let text = zeroize::Zeroizing::new(read_text(path)?);
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{}: not a valid key file: {e}", path.display())))
}

static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);
static STDOUT_TAKEN: AtomicBool = AtomicBool::new(false);

/// Whether `path` is `-`: stdin or stdout.
pub fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A file argument for people: its path, or `stdout`/`stdin` for `-`.
pub fn shown(path: &Path) -> String {
    if is_std(path) {
        "stdout".into()
    } else {
        path.display().to_string()
    }
}

/// Whether a message went to stdout (then reports go to stderr).
pub fn stdout_taken() -> bool {
    STDOUT_TAKEN.load(Ordering::SeqCst)
}

/// Largest file (or stdin) the command line reads.
const READ_LIMIT: u64 = 64 * 1024 * 1024;

fn read_stdin() -> Result<String, CliError> {
    if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
        return Err(CliError::Usage("only one input can be `-` (stdin)".into()));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(READ_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Io(format!("reading stdin: {e}")))?;
    if bytes.len() as u64 > READ_LIMIT {
        return Err(CliError::Input("stdin: input too large".into()));
    }
    String::from_utf8(bytes).map_err(|_| CliError::Input("stdin: not UTF-8 text".into()))
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    write_stdout_with(bytes, b"\n")
}

/// Writes `bytes`, then `end`, to stdout (once per process).
fn write_stdout_with(bytes: &[u8], end: &[u8]) -> Result<(), CliError> {
    if STDOUT_TAKEN.swap(true, Ordering::SeqCst) {
        return Err(CliError::Usage("only one output can be `-` (stdout)".into()));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|_| stdout.write_all(end)).and_then(|_| stdout.flush()).map_err(|e| {
        CliError::Io(format!("writing to stdout: {e} (the message was not delivered; run the command again)"))
    })
}

/// Reads a text file (`-`: stdin), with a clear error for a missing one.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    if is_std(path) {
        return read_stdin();
    }
    String::from_utf8(read_bytes(path)?)
        .map_err(|_| CliError::Input(format!("{}: stream did not contain valid UTF-8", path.display())))
}

/// Reads a secret line (a recovery phrase) from stdin: prompted for on
/// the terminal, or the whole input when stdin is a pipe (at most 4 KiB).
/// Every buffer it passes through is wiped.
pub fn read_secret_stdin(prompt: &str) -> Result<zeroize::Zeroizing<String>, CliError> {
    use std::io::{BufRead, IsTerminal};
    const LIMIT: usize = 4096;
    if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
        return Err(CliError::Usage("stdin is taken by another input".into()));
    }
    let stdin = std::io::stdin();
    // Sized once, so reading never reallocates (leaving an unwiped copy).
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(LIMIT + 1));
    let read = if stdin.is_terminal() {
        let _echo = EchoOff::new(&stdin);
        eprint!("{prompt} (not shown as typed): ");
        let _ = std::io::stderr().flush();
        stdin.lock().take(LIMIT as u64 + 1).read_until(b'\n', &mut bytes)
    } else {
        stdin.lock().take(LIMIT as u64 + 1).read_to_end(&mut bytes)
    };
    read.map_err(|e| CliError::Io(format!("reading stdin: {e}")))?;
    if bytes.len() > LIMIT {
        return Err(CliError::Input(format!("stdin: a {prompt} is shorter than {LIMIT} bytes")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| CliError::Input("stdin: not UTF-8 text".into()))?;
    let mut out = zeroize::Zeroizing::new(String::with_capacity(text.len()));
    out.push_str(text);
    Ok(out)
}

/// The terminal's echo switched off while a secret is typed, and restored
/// when dropped (also when reading fails). Where the terminal cannot be
/// switched (not a Unix terminal), the typed text stays visible.
struct EchoOff {
    #[cfg(unix)]
    restore: Option<rustix::termios::Termios>,
}

impl EchoOff {
    #[cfg(unix)]
    fn new(stdin: &std::io::Stdin) -> Self {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let Ok(saved) = tcgetattr(stdin) else { return EchoOff { restore: None } };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // The newline the user types still moves the cursor on.
        quiet.local_modes.insert(LocalModes::ECHONL);
        match tcsetattr(stdin, OptionalActions::Flush, &quiet) {
            Ok(()) => EchoOff { restore: Some(saved) },
            Err(_) => EchoOff { restore: None },
        }
    }

    #[cfg(not(unix))]
    fn new(_stdin: &std::io::Stdin) -> Self {
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.restore.take() {
            let _ =
                rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &saved);
        }
    }
}

/// Reads a binary file (not stdin), with a clear error for a missing one.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::Input(format!("{}: no such file", path.display())),
        _ => CliError::Io(format!("{}: {e}", path.display())),
    })?;
    if meta.len() > READ_LIMIT {
        return Err(CliError::Input(format!("{}: file too large", path.display())));
    }
    fs::read(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Writes a binary file (`-`: stdout, as it is) atomically; mode 0600 when
/// `secret`.
pub fn write_bytes(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CliError> {
    if is_std(path) {
        return write_stdout_with(bytes, b"");
    }
    write_atomic(path, bytes, secret)
}

/// Reads a message file (`-`: stdin) in its JSON form, naming the file in
/// errors.
pub fn read_message<T: WireMessage>(path: &Path) -> Result<T, CliError> {
    let text = read_text(path)?;
    let name = if is_std(path) { "stdin".into() } else { path.display().to_string() };
    T::from_json(&text).map_err(|e| CliError::Input(format!("{name}: {e}")))
}

/// Writes a message file (`-`: stdout) in its JSON form.
pub fn write_message<T: WireMessage>(path: &Path, value: &T) -> Result<(), CliError> {
    if is_std(path) {
        return write_stdout(value.to_json().as_bytes());
    }
    write_atomic(path, value.to_json().as_bytes(), false)
}

/// Reads a plain JSON file (configuration).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Writes a plain JSON file (configuration).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Io(e.to_string()))?;
    write_atomic(path, text.as_bytes(), false)
}

/// `dir/name`.
pub fn in_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_written_0600_and_refused_when_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        write_secret(&p, &"secret").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: String = read_secret(&p).unwrap();
        assert_eq!(v, "secret");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_secret::<String>(&p), Err(CliError::Security(_))));
        assert!(matches!(write_secret(&p, &"again"), Err(CliError::Refused(_))));
    }
}
