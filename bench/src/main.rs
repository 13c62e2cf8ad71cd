//! `holdline-bench`: the load tool. Everything lives in the [`holdline_bench`] library; see
//! `bench/README.md` for usage.

fn main() -> std::process::ExitCode {
    holdline_bench::cli::main()
}
