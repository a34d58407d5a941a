//! The Dockerfile: built in one stage, run in another.

use super::*;

#[test]
fn dockerfile_builds_in_one_stage_and_runs_in_another() {
    let path = deploy_dir().join("Dockerfile");
    let text = read(&path);
    // Instructions, with `\` continuations joined and comments dropped.
    let joined = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let stages: Vec<(usize, &str)> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.to_ascii_uppercase().starts_with("FROM "))
        .map(|(i, l)| (i, *l))
        .collect();
    assert!(
        stages.len() >= 2,
        "{}: one build and one runtime stage",
        path.display()
    );
    let (builder_at, builder) = stages[0];
    assert!(
        builder.to_ascii_lowercase().ends_with(" as builder") && builder.contains("rust:"),
        "{}: the first stage is `FROM rust:... AS builder`: {builder}",
        path.display()
    );
    let (runtime_at, runtime) = *stages.last().expect("stages");
    assert!(
        runtime.contains("debian:bookworm-slim"),
        "{}: runtime stage {runtime}",
        path.display()
    );
    let builder_steps = &instructions[builder_at..runtime_at];
    assert!(
        builder_steps
            .iter()
            .any(|l| l.contains("cargo build --release -p stampede --locked")),
        "{}: the builder runs cargo build --release -p stampede --locked",
        path.display()
    );
    let runtime_steps = &instructions[runtime_at..];
    let has = |prefix: &str, needle: &str| {
        runtime_steps
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(
        has("COPY --from=builder", "/usr/local/bin/stampede"),
        "{}: the runtime copies the binary from the builder",
        path.display()
    );
    assert!(has("EXPOSE", "8080"), "{}: EXPOSE 8080", path.display());
    assert!(
        has("ENTRYPOINT", "\"stampede\""),
        "{}: ENTRYPOINT [\"stampede\"]",
        path.display()
    );
    let user = runtime_steps
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap_or("root");
    assert!(
        !["root", "0"].contains(&user.trim()),
        "{}: the runtime runs as a non-root user",
        path.display()
    );

    let ignore = read(&deploy_dir().join("../.dockerignore"));
    for excluded in ["target", ".stampede", ".git"] {
        assert!(
            ignore
                .lines()
                .any(|l| l.trim().trim_matches('/') == excluded),
            ".dockerignore: {excluded}/ is not excluded"
        );
    }
}
