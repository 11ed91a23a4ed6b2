//! Compiles the repository's policy set (`schema.cedarschema`, `policy-set/*.cedar`) into
//! the crate: writes `$OUT_DIR/builtin.rs` with one `include_str!` per file, so a policy
//! file added to the folder is in the next build without naming it anywhere.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = root.join("schema.cedarschema");
    let dir = root.join("policy-set");
    println!("cargo::rerun-if-changed={}", schema.display());
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the policy-set folder is readable")
        .map(|e| e.expect("the policy-set folder is readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cedar") && p.is_file())
        .collect();
    files.sort();
    let mut out = String::from("/// The compiled-in schema.\npub(crate) const SCHEMA: &str = include_str!(");
    out.push_str(&format!("{:?});\n", schema.display().to_string()));
    out.push_str("/// The compiled-in policy files: (file name, text), sorted by name.\n");
    out.push_str("pub(crate) const POLICIES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo::rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file name").to_str().expect("a UTF-8 file name");
        out.push_str(&format!("    ({name:?}, include_str!({:?})),\n", f.display().to_string()));
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("builtin.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
