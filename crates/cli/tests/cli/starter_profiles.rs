//! Every starter profile in `examples/profiles/` passes the server's validation through the real
//! CLI (`fleetward profiles apply -f`), exactly as the README tells an operator to apply it, and
//! can be attached to its class's thing group.

use std::path::{Path, PathBuf};

use crate::run::{fleetward as run, ok_json as ok};

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/profiles")
}

#[test]
fn every_starter_profile_applies_and_attaches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(profiles_dir())
        .expect("examples/profiles exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["camera", "gateway", "sensor"],
        "one per device class"
    );

    for (file, class) in files.iter().zip(&names) {
        let applied = ok(&run(
            &data,
            &["profiles", "apply", "-f", file.to_str().unwrap()],
        ));
        let profile = format!("{class}-baseline");
        assert_eq!(
            applied["securityProfileName"],
            profile.as_str(),
            "{applied}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert_eq!(applied["behaviors"], doc["behaviors"], "stored as written");

        let group = format!("{class}s");
        ok(&run(&data, &["groups", "create", &group]));
        let target = format!("arn:aws:iot:us-east-1:000000000000:thinggroup/{group}");
        ok(&run(
            &data,
            &["profiles", "attach", &profile, "--target", &target],
        ));
        let shown = ok(&run(&data, &["profiles", "show", &profile]));
        assert!(shown.to_string().contains(&target), "{shown}");
    }
}
