//! `bootherd iscsi export` and `bootherd iscsi create-disk` from the user's side:
//! golden target configurations for tgt and LIO from a fixture inventory
//! (`tests/fixtures/iscsi/`, `BOOTHERD_BLESS=1` rewrites `expected/`), the machines
//! left out named on stderr, refusals that name the machine and key, and `check`
//! reporting a missing backing store. `iscsi_root.rs` proves the tgt output with a
//! real tgtd and a booting guest.

use std::path::{Path, PathBuf};

use crate::support::{run_bootherd, temp_dir, write_file, RunOutput};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iscsi")
}

/// The fixture inventory in `dir`, its CHAP files taken from the fixture folder.
fn fixture_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join("bootherd.toml")).unwrap();
    let path = dir.join("bootherd.toml");
    write_file(
        &path,
        text.replace("CHAP_DIR", &fixtures().display().to_string())
            .as_bytes(),
    );
    path
}

fn export(config: &Path, format: &str) -> RunOutput {
    run_bootherd([
        "iscsi",
        "export",
        "--config",
        config.to_str().unwrap(),
        "--format",
        format,
    ])
}

/// Compares `got` with `expected/NAME`; with `BOOTHERD_BLESS=1` rewrites it when it
/// differs, and fails saying so.
fn golden(name: &str, got: &str) {
    let path = fixtures().join("expected").join(name);
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want == got {
        return;
    }
    if crate::support::bless_requested() {
        write_file(&path, got.as_bytes());
        panic!(
            "BOOTHERD_BLESS=1 rewrote {}; review the diff, then run again without it",
            path.display()
        );
    }
    panic!(
        "bootherd iscsi export differs from {} (BOOTHERD_BLESS=1 rewrites it):\n--- expected\n{want}\n--- got\n{got}",
        path.display()
    );
}

#[test]
fn export_matches_the_golden_files() {
    let dir = temp_dir();
    let config = fixture_config(dir.path());
    for (format, file) in [("tgt", "targets.conf"), ("targetcli", "targetcli.sh")] {
        let out = export(&config, format);
        assert!(
            out.success(),
            "export --format {format}: {}",
            out.describe()
        );
        assert_eq!(
            out.stderr.trim(),
            "note: machine attic-pi: its profile's root has no backing_store; not exported",
            "export --format {format}"
        );
        golden(file, &out.stdout);
    }
}

#[test]
fn tgt_export_admits_each_initiator_alone() {
    let dir = temp_dir();
    let out = export(&fixture_config(dir.path()), "tgt");
    assert!(out.success(), "{}", out.describe());
    // One target per exported machine, each with exactly its own initiator and the
    // address line that keeps tgt-admin from binding ALL.
    let stanzas: Vec<&str> = out.stdout.split("<target ").skip(1).collect();
    assert_eq!(stanzas.len(), 3, "{}", out.stdout);
    for (stanza, initiator) in stanzas.iter().zip([
        "iqn.2004-04.com.example:kitchen-pi",
        "iqn.2004-04.com.example:garage-pi",
        "iqn.2004-04.com.example:office-pc-initiator",
    ]) {
        let acl: Vec<&str> = stanza
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("initiator-"))
            .collect();
        assert_eq!(
            acl,
            [
                "initiator-address 0.0.0.0",
                &format!("initiator-name {initiator}")
            ],
            "{stanza}"
        );
    }
}

#[test]
fn export_to_a_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir();
    let config = fixture_config(dir.path());
    let file = dir.path().join("targets.conf");
    write_file(&file, b"old");
    let out = run_bootherd([
        "iscsi",
        "export",
        "-c",
        config.to_str().unwrap(),
        "--format",
        "tgt",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("incominguser kitchen-pi kitchen-secret-1"),
        "{text}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", file.display());
}

#[test]
fn export_refusals_name_machine_and_key_and_hide_secrets() {
    let dir = temp_dir();
    let config = fixture_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    // A CHAP file that is not TOML: the error has its line, never its content.
    let chap = dir.path().join("broken.chap");
    write_file(&chap, b"username = \"x\"\npassword = do-not-print-me-42\n");
    let broken = text.replace(
        &format!("{}/{{name}}.chap", fixtures().display()),
        chap.to_str().unwrap(),
    );
    std::fs::write(&config, &broken).unwrap();
    let out = export(&config, "tgt");
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains(&format!(
            "machine kitchen-pi: root.chap_file: {}:2: not a CHAP file",
            chap.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("do-not-print-me"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);

    // LUN 0 is tgt's controller; LIO takes it.
    let lun0 = text.replace(
        "lun = 1, backing_store = \"/dev",
        "lun = 0, backing_store = \"/dev",
    );
    std::fs::write(&config, &lun0).unwrap();
    let out = export(&config, "tgt");
    assert!(
        !out.success()
            && out
                .stderr
                .contains("machine office-pc: root.lun: tgt keeps LUN 0"),
        "{}",
        out.describe()
    );
    assert!(export(&config, "targetcli").success());

    // Two machines with one target IQN.
    let shared = text.replace(
        "target = \"iqn.2004-04.com.example:pi4-{serial}\"",
        "target = \"iqn.2004-04.com.example:pis\"",
    );
    std::fs::write(&config, &shared).unwrap();
    let out = export(&config, "tgt");
    assert!(
        !out.success()
            && out.stderr.contains(
                "machine garage-pi: root.target: iqn.2004-04.com.example:pis is also machine \
                 kitchen-pi's target"
            ),
        "{}",
        out.describe()
    );
}

#[test]
fn create_disk_then_check_finds_it() {
    let dir = temp_dir();
    let store = dir.path().join("disks");
    std::fs::create_dir_all(&store).unwrap();
    let config = dir.path().join("bootherd.toml");
    write_file(
        &config,
        format!(
            "[tftp]\nroot = \".\"\n\
             [profiles.pc]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\n\
             root = {{ type = \"iscsi\", portal = \"10.0.0.5\", target = \"iqn.2004-04.com.example:{{name}}\", \
             initiator = \"iqn.2004-04.com.example:{{name}}-i\", lun = 1, backing_store = \"{}/{{name}}.img\" }}\n\
             [[machines]]\nname = \"pc1\"\nmac = \"52:54:00:12:34:56\"\nprofile = \"pc\"\n",
            store.display()
        )
        .as_bytes(),
    );
    write_file(&dir.path().join("vmlinuz"), b"kernel");
    let disk = store.join("pc1.img");
    let c = config.to_str().unwrap();
    let out = run_bootherd(["check", "-c", c]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains(&format!(
            "MISSING    iscsi backing store {} (bootherd iscsi create-disk pc1)",
            disk.display()
        )),
        "{}",
        out.stdout
    );

    let out = run_bootherd(["iscsi", "create-disk", "-c", c, "pc1", "--size", "2G"]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), 2 << 30);
    let out = run_bootherd(["check", "-c", c]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains(&format!(
            "found      iscsi backing store {}",
            disk.display()
        )),
        "{}",
        out.stdout
    );

    // Never over an existing disk, whatever the source.
    std::fs::write(&disk, b"precious").unwrap();
    let image = dir.path().join("image");
    std::fs::write(&image, b"new").unwrap();
    for args in [
        vec!["iscsi", "create-disk", "-c", c, "pc1", "--size", "1G"],
        vec![
            "iscsi",
            "create-disk",
            "-c",
            c,
            "pc1",
            "--from",
            image.to_str().unwrap(),
        ],
    ] {
        let out = run_bootherd(&args);
        assert!(
            !out.success() && out.stderr.contains("already exists"),
            "{args:?}: {}",
            out.describe()
        );
        assert_eq!(std::fs::read(&disk).unwrap(), b"precious");
    }
    let out = run_bootherd(["iscsi", "create-disk", "-c", c, "nobody", "--size", "1G"]);
    assert!(
        !out.success() && out.stderr.contains("no machine named `nobody`"),
        "{}",
        out.describe()
    );
}
