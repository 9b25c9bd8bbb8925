//! Where `retrace build` writes: an output directory whose own directories are symbolic links is
//! refused before anything is written (the links would take the blobs and logs elsewhere).

use crate::common;

#[test]
fn an_output_directory_with_linked_directories_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("blobs")).unwrap();
    let recipe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/demo.yaml");
    let run = common::build::retrace(&["build", recipe.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("symbolic link") && stderr.contains("blobs"), "{stderr}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}
