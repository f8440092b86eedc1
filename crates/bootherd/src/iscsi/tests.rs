use std::path::Path;

use super::*;
use crate::inventory::tests::parse;

fn inventory(initiator: &str, chap: &str, lun: u32) -> crate::inventory::Inventory {
    parse(&format!(
        "[profiles.pi]\nkind = \"rpi\"\nroot = {{ type = \"iscsi\", portal = \"10.0.0.5\", \
         target = \"iqn.2004-04.com.example:{{name}}\", {initiator} lun = {lun}, \
         backing_store = \"/srv/iscsi/{{name}}.img\" {chap} }}\n\
         [profiles.nfs]\nkind = \"rpi\"\nroot = {{ type = \"nfs\", server = \"s\", path = \"/x\" }}\n\
         [profiles.bare]\nkind = \"rpi\"\nroot = {{ type = \"iscsi\", portal = \"10.0.0.5\", \
         target = \"iqn.2004-04.com.example:{{name}}\" }}\n\
         [[machines]]\nname = \"a\"\nserial = \"1\"\nprofile = \"pi\"\n\
         [[machines]]\nname = \"n\"\nserial = \"2\"\nprofile = \"nfs\"\n\
         [[machines]]\nname = \"z\"\nserial = \"3\"\nprofile = \"bare\"\n"
    ))
    .unwrap()
}

#[test]
fn machines_without_a_backing_store_are_skipped_and_named() {
    let inv = inventory("initiator = \"iqn.2004-04.com.example:{name}-i\",", "", 1);
    let export = targets(&inv).unwrap();
    assert_eq!(export.targets.len(), 1);
    let t = &export.targets[0];
    assert_eq!(
        (
            t.machine.as_str(),
            t.iqn.as_str(),
            t.initiator.as_str(),
            t.lun
        ),
        (
            "a",
            "iqn.2004-04.com.example:a",
            "iqn.2004-04.com.example:a-i",
            1
        )
    );
    assert_eq!(t.backing_store, Path::new("/srv/iscsi/a.img"));
    assert_eq!(
        export.skipped,
        ["machine z: its profile's root has no backing_store; not exported"]
    );
}

#[test]
fn an_acl_needs_the_initiator() {
    let inv = inventory("", "", 1);
    let err = targets(&inv).unwrap_err();
    assert!(
        err.starts_with("machine a: root.initiator: not set"),
        "{err}"
    );
}

#[test]
fn tgt_refuses_lun_0_and_never_admits_all() {
    let inv = inventory("initiator = \"iqn.2004-04.com.example:{name}-i\",", "", 0);
    let export = targets(&inv).unwrap();
    let err = render(Format::Tgt, &export.targets).unwrap_err();
    assert!(
        err.contains("machine a: root.lun: tgt keeps LUN 0"),
        "{err}"
    );
    // LIO has no controller LUN.
    assert!(render(Format::Targetcli, &export.targets)
        .unwrap()
        .contains("lun=0"));
    let inv = inventory("initiator = \"iqn.2004-04.com.example:{name}-i\",", "", 1);
    let tgt = render(Format::Tgt, &targets(&inv).unwrap().targets).unwrap();
    assert!(tgt.contains("    initiator-address 0.0.0.0\n"), "{tgt}");
    let addresses: Vec<&str> = tgt
        .lines()
        .filter(|l| l.trim_start().starts_with("initiator-address"))
        .collect();
    assert_eq!(addresses, ["    initiator-address 0.0.0.0"], "{tgt}");
}

#[test]
fn chap_secrets_stay_out_of_errors_and_debug() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-hunter2";
    let cases = [
        (
            format!("username = \"a\"\npassword = {secret}\n"),
            ":2: not a CHAP file",
        ),
        (
            format!("username = \"a\"\npassword = \"{secret} x\"\n"),
            "password has a character",
        ),
        (
            format!("username = \"a\"\npasswd = \"{secret}\"\n"),
            "not a CHAP file",
        ),
        (
            "username = \"a\"\npassword = \"hunter2\"\n".into(),
            "at least 12 characters",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("chap{i}"));
        std::fs::write(&path, text).unwrap();
        let err = Chap::read(&path).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(!err.contains("hunter2"), "the secret leaked: {err}");
    }
    let path = dir.path().join("good");
    std::fs::write(
        &path,
        format!("username = \"a\"\npassword = \"{secret}\"\n"),
    )
    .unwrap();
    let chap = Chap::read(&path).unwrap();
    assert_eq!(chap.password, secret);
    assert!(!format!("{chap:?}").contains("hunter2"));
    let err = Chap::read(&dir.path().join("absent")).unwrap_err();
    assert!(err.contains("absent"), "{err}");
}

#[test]
fn sizes() {
    assert_eq!(parse_size("8G"), Ok(8 << 30));
    assert_eq!(parse_size("512m"), Ok(512 << 20));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    for bad in ["", "0", "G", "8X", "-1G", "99999999999T"] {
        assert!(parse_size(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn disks_are_sparse_copies_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("a.img");
    assert_eq!(create_disk(&disk, &DiskSource::Size(1 << 30)), Ok(1 << 30));
    let meta = std::fs::metadata(&disk).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    use std::os::unix::fs::MetadataExt as _;
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "not sparse: {} blocks",
        meta.blocks()
    );
    let err = create_disk(&disk, &DiskSource::Size(1)).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), 1 << 30);

    // An image: data, a long run of zeros, data.
    let image = dir.path().join("image");
    let mut bytes = vec![7u8; 1000];
    bytes.extend(vec![0u8; 4 << 20]);
    bytes.extend(b"tail");
    std::fs::write(&image, &bytes).unwrap();
    let copy = dir.path().join("b.img");
    let source = DiskSource::Image {
        path: image.clone(),
        size: Some(8 << 20),
    };
    assert_eq!(create_disk(&copy, &source), Ok(8 << 20));
    let got = std::fs::read(&copy).unwrap();
    assert_eq!(&got[..bytes.len()], &bytes[..]);
    assert!(got[bytes.len()..].iter().all(|&b| b == 0));
    assert!(std::fs::metadata(&copy).unwrap().blocks() * 512 < 2 << 20);

    let small = DiskSource::Image {
        path: image,
        size: Some(10),
    };
    let err = create_disk(&dir.path().join("c.img"), &small).unwrap_err();
    assert!(err.contains("smaller than"), "{err}");
    assert!(!dir.path().join("c.img").exists());
    let err = create_disk(Path::new("/dev/sdz"), &DiskSource::Size(1)).unwrap_err();
    assert!(err.contains("a device"), "{err}");
}
