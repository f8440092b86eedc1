//! Any bytes as a requested path: what `clean_path` accepts is a relative
//! path of plain names (no `..`, `.`, empty part, leading `/`, NUL,
//! backslash or control character) that stays under any root it is joined
//! to, and cleaning it again changes nothing.
#![no_main]

use std::path::{Component, Path};

use bootherd::vfs::clean_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = clean_path(data) else {
        return;
    };
    assert!(!path.is_empty());
    assert!(!path.starts_with('/'), "{path:?}");
    assert!(!path.contains('\\'), "{path:?}");
    assert!(!path.chars().any(char::is_control), "{path:?}");
    for part in path.split('/') {
        assert!(!matches!(part, "" | "." | ".."), "{path:?}");
    }
    let root = Path::new("/srv/boot");
    let joined = root.join(&path);
    assert!(joined.starts_with(root), "{joined:?}");
    let below: Vec<Component<'_>> = joined.strip_prefix(root).unwrap().components().collect();
    assert!(!below.is_empty());
    for component in below {
        assert!(
            matches!(component, Component::Normal(_)),
            "{path:?}: {component:?}"
        );
    }
    assert_eq!(
        clean_path(path.as_bytes()).ok().as_deref(),
        Some(path.as_str())
    );
});
