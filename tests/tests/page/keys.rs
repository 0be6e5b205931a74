//! Private key formats in the browser, against the real OpenSSH fixture through the relay, with
//! keys converted by the real `ssh-keygen` and `puttygen`: a run with a password or an OpenSSH
//! key (plain or encrypted) never fetches the key-format module (`sshdiag_keys.js`, by Resource
//! Timing), while a PKCS#8, legacy PEM or PuTTY key fetches it (as soon as it is pasted, before
//! Run) and logs in; a wrong or missing passphrase and a damaged file in those formats read word
//! for word as the native decoder's (the core's own hints over `decode_any`), surfacing where an
//! OpenSSH key's failure does, before connecting; and a key-format module the relay cannot
//! serve is a clear key error, while OpenSSH keys still log in.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sshdiag_core::hints::key_load_failure;
use sshdiag_core::keydecode::decode_any;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::procs::stdout_of;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSPHRASE};
use sshdiag_tests::tools::{PUTTYGEN, SSH_KEYGEN};
use sshdiag_tests::webdriver::Browser;

use crate::{Page, against_openssh, in_browser, last_of, types};

/// The label the page gives a pasted key.
const PASTED: &str = "the private key";

/// The fixture's authorised keys in the formats other than OpenSSH's, made by the real tools.
struct OtherFormats {
    /// The ECDSA key as PKCS#8, not encrypted (`BEGIN PRIVATE KEY`).
    pkcs8: String,
    /// The ECDSA key as PKCS#8 encrypted with [`TEST_PASSPHRASE`].
    pkcs8_encrypted: String,
    /// The RSA key as legacy PEM encrypted with [`TEST_PASSPHRASE`] (`BEGIN RSA PRIVATE KEY`).
    pem_encrypted: String,
    /// The ed25519 key as a version 3 PuTTY key encrypted with [`TEST_PASSPHRASE`] (Argon2).
    ppk3_encrypted: String,
    /// The ECDSA key as a version 2 PuTTY key, not encrypted.
    ppk2: String,
}

impl OtherFormats {
    fn of(sshd: &SshdFixture, dir: &Path) -> anyhow::Result<OtherFormats> {
        let keys = sshd.client_keys();
        let keygen = SSH_KEYGEN.require()?;
        // `ssh-keygen -p` rewrites a copy of the key in the format `-m` names.
        let convert = |source: &Path, name: &str, old: &str, new: &str, format: &str| {
            let copy = dir.join(name);
            std::fs::copy(source, &copy)?;
            let copy_arg = copy.display().to_string();
            let args = [
                "-q", "-p", "-P", old, "-N", new, "-m", format, "-f", &copy_arg,
            ];
            stdout_of(Command::new(&keygen).args(args), "ssh-keygen -p");
            anyhow::Ok(std::fs::read_to_string(&copy)?)
        };
        let puttygen = PUTTYGEN.require()?;
        let pass_file = dir.join("passphrase");
        std::fs::write(&pass_file, TEST_PASSPHRASE)?;
        let to_ppk = |source: &Path, name: &str, version: &str, encrypted: bool| {
            let out = dir.join(name);
            let mut command = Command::new(&puttygen);
            command
                .arg(source)
                .args(["-O", "private", "-o"])
                .arg(&out)
                .args(["--ppk-param", &format!("version={version}")]);
            if encrypted {
                command.arg("--new-passphrase").arg(&pass_file);
            }
            stdout_of(&mut command, "puttygen");
            anyhow::Ok(std::fs::read_to_string(&out)?)
        };
        let ecdsa = &keys.ecdsa.path;
        Ok(OtherFormats {
            pkcs8: convert(ecdsa, "ec_p8", "", "", "PKCS8")?,
            pkcs8_encrypted: convert(ecdsa, "ec_p8_enc", "", TEST_PASSPHRASE, "PKCS8")?,
            pem_encrypted: convert(
                &keys.rsa_enc.path,
                "rsa_pem_enc",
                TEST_PASSPHRASE,
                TEST_PASSPHRASE,
                "PEM",
            )?,
            ppk3_encrypted: to_ppk(&keys.ed25519.path, "ed.ppk", "3", true)?,
            ppk2: to_ppk(ecdsa, "ec.ppk", "2", false)?,
        })
    }
}

/// Puts `key` (and `passphrase`, or none) in the form's private key fields, with the `input`
/// event a paste fires (the page looks at the key then).
async fn paste_key(page: &Page<'_>, key: &str, passphrase: Option<&str>) -> anyhow::Result<()> {
    page.click_css("input[name=authType][value=privateKey]")
        .await?;
    page.fill(&[("f-key", key), ("f-passphrase", passphrase.unwrap_or(""))])
        .await?;
    page.js(
        "document.getElementById('f-key').dispatchEvent(new Event('input', { bubbles: true })); \
         return null;",
    )
    .await
    .map(|_| ())
}

/// The method of the run's successful login, if it logged in.
fn logged_in_with(events: &[Value]) -> Option<&str> {
    events
        .iter()
        .find(|e| e["event_type"] == json!("AUTH") && e["data"]["status"] == json!("success"))
        .and_then(|e| e["data"]["method"].as_str())
}

/// Runs the form and checks that it logged in with the private key.
async fn logs_in_with_the_key(page: &Page<'_>, what: &str) -> anyhow::Result<String> {
    let events = page.run_green().await?;
    anyhow::ensure!(
        logged_in_with(&events) == Some("private_key"),
        "{what}: {:?}",
        types(&events)
    );
    page.text("raw-jsonl").await
}

async fn only_a_key_in_another_format_fetches_the_key_module(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let dir = tempfile::tempdir()?;
    let other = OtherFormats::of(&sshd, dir.path())?;
    let keys = sshd.client_keys().clone();
    against_openssh(browser, &sshd, None, async |page, _| {
        let mut raw_logs = String::new();
        // A password, then OpenSSH keys, plain and encrypted (bcrypt): never the module.
        page.fill_target(&sshd, sshd.password()).await?;
        page.run_green().await?;
        paste_key(page, &keys.ed25519.private_key, None).await?;
        raw_logs += &logs_in_with_the_key(page, "an OpenSSH key").await?;
        paste_key(page, &keys.rsa_enc.private_key, keys.rsa_enc.passphrase).await?;
        raw_logs += &logs_in_with_the_key(page, "an encrypted OpenSSH key").await?;
        let fetched = page.fetched("sshdiag_keys").await?;
        anyhow::ensure!(
            fetched.is_empty(),
            "a password or OpenSSH key run fetched the key-format module: {fetched:?}"
        );

        // PKCS#8: pasting it fetches the module before Run is pressed (the form's `input`
        // listener, as a paste fires it), and the key logs in.
        paste_key(page, &other.pkcs8, None).await?;
        page.wait_for(
            "return performance.getEntriesByType('resource') \
             .some((e) => e.name.endsWith('/pkg/sshdiag_keys_bg.wasm') && e.responseEnd > 0)",
            std::time::Duration::from_secs(20),
            "the key-format module fetched on pasting a PKCS#8 key, before Run",
        )
        .await?;
        raw_logs += &logs_in_with_the_key(page, "a PKCS#8 key").await?;
        let fetched = page.fetched("sshdiag_keys").await?;
        for file in ["/pkg/sshdiag_keys.js", "/pkg/sshdiag_keys_bg.wasm"] {
            anyhow::ensure!(
                fetched.iter().any(|f| f.ends_with(file)),
                "a PKCS#8 key did not fetch {file}: {fetched:?}"
            );
        }
        // The other formats, with the module loaded once for all.
        for (what, key, passphrase) in [
            (
                "an encrypted PKCS#8 key",
                &other.pkcs8_encrypted,
                Some(TEST_PASSPHRASE),
            ),
            (
                "an encrypted legacy PEM key",
                &other.pem_encrypted,
                Some(TEST_PASSPHRASE),
            ),
            (
                "an encrypted PuTTY v3 key",
                &other.ppk3_encrypted,
                Some(TEST_PASSPHRASE),
            ),
            ("a PuTTY v2 key", &other.ppk2, None),
        ] {
            paste_key(page, key, passphrase).await?;
            raw_logs += &logs_in_with_the_key(page, what).await?;
        }
        // No key, line of a key, or passphrase in any event.
        let key_lines = [
            &other.pkcs8,
            &other.pem_encrypted,
            &other.ppk3_encrypted,
            &other.ppk2,
        ]
        .into_iter()
        .flat_map(|k| k.lines().filter(|l| l.len() > 40).map(str::to_string))
        .collect::<Vec<_>>();
        for line in &key_lines {
            anyhow::ensure!(
                !raw_logs.contains(line.as_str()),
                "the events contain a key line"
            );
        }
        anyhow::ensure!(
            !raw_logs.contains(TEST_PASSPHRASE),
            "the events contain the passphrase"
        );
        Ok(())
    })
    .await
}

/// What the native decoder says of `key` with `passphrase`: the core's message and hint.
fn native_failure(key: &str, passphrase: Option<&str>) -> anyhow::Result<(String, String)> {
    let Err(problem) = decode_any(key, passphrase) else {
        anyhow::bail!("the native decoder reads the key the test damaged");
    };
    Ok(key_load_failure(PASTED, &problem, passphrase.is_some()))
}

/// Runs the form, which must fail with `KeyLoadError`; returns the ERROR's data and the event
/// types.
async fn key_error(page: &Page<'_>) -> anyhow::Result<(Value, Vec<String>)> {
    let (_, events) = page.run_failing("KeyLoadError").await?;
    let error = last_of(&events, "ERROR")?.clone();
    let seen = types(&events).into_iter().map(str::to_string).collect();
    Ok((error, seen))
}

/// A text whose longest line (a line of the key's Base64) is cut to half (a damaged file).
fn damaged(key: &str) -> String {
    let longest = key.lines().max_by_key(|l| l.len()).unwrap_or_default();
    let half = &longest[..longest.len() / 8 * 4];
    key.replacen(longest, half, 1)
}

async fn key_errors_in_other_formats_read_as_natively(browser: Browser) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let dir = tempfile::tempdir()?;
    let other = OtherFormats::of(&sshd, dir.path())?;
    let keys = sshd.client_keys().clone();
    against_openssh(browser, &sshd, None, async |page, _| {
        page.fill_target(&sshd, "").await?;
        // Where an OpenSSH key's failure surfaces: before connecting.
        paste_key(page, &keys.rsa_enc.private_key, Some("not the passphrase")).await?;
        let (_, reference) = key_error(page).await?;
        anyhow::ensure!(
            !reference.iter().any(|t| t == "PROXY" || t == "BANNER"),
            "an OpenSSH key's failure came after connecting: {reference:?}"
        );
        let damaged_ppk = damaged(&other.ppk2);
        let damaged_pkcs8 = damaged(&other.pkcs8);
        for (what, key, passphrase) in [
            (
                "a PuTTY key, wrong passphrase",
                &other.ppk3_encrypted,
                Some("not the passphrase"),
            ),
            ("a PuTTY key, no passphrase", &other.ppk3_encrypted, None),
            (
                "a PKCS#8 key, wrong passphrase",
                &other.pkcs8_encrypted,
                Some("wrong"),
            ),
            ("a PKCS#8 key, no passphrase", &other.pkcs8_encrypted, None),
            (
                "a legacy PEM key, no passphrase",
                &other.pem_encrypted,
                None,
            ),
            ("a damaged PuTTY key", &damaged_ppk, None),
            ("a damaged PKCS#8 key", &damaged_pkcs8, None),
        ] {
            paste_key(page, key, passphrase).await?;
            let (error, seen) = key_error(page).await?;
            let (message, hint) = native_failure(key, passphrase)?;
            anyhow::ensure!(
                error["message"] == json!(sshdiag_core::failure::scrub(&message))
                    && error["hints"][0] == json!(hint),
                "{what}: the browser says {error}, natively {message:?} / {hint:?}"
            );
            anyhow::ensure!(
                seen == reference,
                "{what}: events {seen:?}, an OpenSSH key's failure {reference:?}"
            );
        }
        Ok(())
    })
    .await
}

/// A copy of the page's files without the key-format module, as a relay missing it serves.
fn page_without_key_module(into: &Path) -> anyhow::Result<PathBuf> {
    let web = crate::workspace_root().join("web");
    let root = into.join("web");
    let mut dirs = vec![(web.clone(), root.clone())];
    while let Some((from, to)) = dirs.pop() {
        std::fs::create_dir_all(&to)?;
        for entry in std::fs::read_dir(&from)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_owned();
            if name.to_string_lossy().starts_with("sshdiag_keys") {
                continue;
            }
            match path.is_dir() {
                true => dirs.push((path, to.join(name))),
                false => {
                    std::fs::copy(&path, to.join(name))?;
                }
            }
        }
    }
    Ok(root)
}

async fn a_key_module_that_does_not_load_is_a_clear_key_error(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let dir = tempfile::tempdir()?;
    let other = OtherFormats::of(&sshd, dir.path())?;
    let keys = sshd.client_keys().clone();
    let root = page_without_key_module(dir.path())?;
    let relay = RelayFixture::start_with_args([
        "--allow".to_string(),
        format!("127.0.0.1/32:{}", sshd.port()),
        "--web-root".to_string(),
        root.display().to_string(),
    ])
    .await?;
    in_browser(browser, relay, None, async |page, _| {
        page.fill_target(&sshd, "").await?;
        paste_key(page, &other.ppk2, None).await?;
        let (error, seen) = key_error(page).await?;
        let message = error["message"].as_str().unwrap_or_default();
        anyhow::ensure!(
            message.starts_with(
                "the private key could not be read: the code that reads its format did not load ("
            ) && error["hints"][0]
                .as_str()
                .is_some_and(|h| h.contains("puttygen KEY -O private-openssh")),
            "{error}"
        );
        anyhow::ensure!(
            !seen.iter().any(|t| t == "PROXY"),
            "the failed load came after connecting: {seen:?}"
        );
        // The run's own module still logs in with an OpenSSH key.
        paste_key(page, &keys.ed25519.private_key, None).await?;
        logs_in_with_the_key(page, "an OpenSSH key without the module").await?;
        Ok(())
    })
    .await
}

crate::in_every_browser!(
    only_a_key_in_another_format_fetches_the_key_module,
    key_errors_in_other_formats_read_as_natively,
    a_key_module_that_does_not_load_is_a_clear_key_error,
);
