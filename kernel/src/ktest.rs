//! In-kernel tests: registered at link time, run inside the booted kernel.
//!
//! A test is an `async` block returning `Result<(), String>`, declared
//! anywhere in the kernel (or in `bench`) with [`ktest!`](crate::ktest!):
//!
//! ```ignore
//! ktest!(async fn heap_alloc_all_cpus() {
//!     kassert_eq!(1 + 1, 2);
//!     Ok(())
//! });
//! ```
//!
//! `linkme` gathers every test into [`KTESTS`](static@KTESTS) at link time, so there is no
//! list to keep in sync. Booting with `test` on the command line runs them
//! all as tasks on the executor (`test=SUBSTR` runs those whose name
//! contains SUBSTR); each prints `ktest NAME ... ok` or `... FAILED: why`,
//! and the run ends with `ktest result: N passed, M failed` and the QEMU exit
//! code (docs/testing.md).

#[doc(hidden)]
pub use arch::registry::linkme;
pub use arch::registry::{KTESTS, KTest, TestFuture, TestResult};

/// Declares an in-kernel test: `ktest!(async fn name() { ...; Ok(()) });`
#[macro_export]
macro_rules! ktest {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[allow(
            non_upper_case_globals,
            reason = "the static takes the test's (snake_case) function name"
        )]
        #[$crate::ktest::linkme::distributed_slice(::arch::registry::KTESTS)]
        #[linkme(crate = $crate::ktest::linkme)]
        static $name: $crate::ktest::KTest = $crate::ktest::KTest {
            name: concat!(module_path!(), "::", stringify!($name)),
            run: || ::alloc::boxed::Box::pin(async move $body),
        };
    };
}

/// Fails the enclosing test (returns `Err`) unless `cond` holds.
#[macro_export]
macro_rules! kassert {
    ($cond:expr) => {
        if !$cond {
            return Err(::alloc::format!("{}:{}: assertion failed: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(::alloc::format!("{}:{}: {}", file!(), line!(), ::alloc::format!($($fmt)+)));
        }
    };
}

/// Fails the enclosing test unless the two values are equal.
#[macro_export]
macro_rules! kassert_eq {
    ($a:expr, $b:expr $(,)?) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(::alloc::format!(
                "{}:{}: {} == {} failed: {:?} != {:?}",
                file!(),
                line!(),
                stringify!($a),
                stringify!($b),
                a,
                b
            ));
        }
    }};
    ($a:expr, $b:expr, $($fmt:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(::alloc::format!(
                "{}:{}: {}: {:?} != {:?}",
                file!(),
                line!(),
                ::alloc::format!($($fmt)+),
                a,
                b
            ));
        }
    }};
}

/// Tests whose name contains `filter` (all when it is empty), in link order.
pub fn selected(filter: &str) -> impl Iterator<Item = &'static KTest> + '_ {
    KTESTS
        .iter()
        .filter(move |t| filter.is_empty() || t.name.contains(filter))
}

/// Runs the selected tests one after another, printing a line for each
/// through `print`; returns (passed, failed).
pub async fn run(filter: &str, mut print: impl FnMut(core::fmt::Arguments<'_>)) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for test in selected(filter) {
        print(format_args!("ktest {} ...\n", test.name));
        match (test.run)().await {
            Ok(()) => {
                passed += 1;
                print(format_args!("ktest {} ... ok\n", test.name));
            }
            Err(why) => {
                failed += 1;
                print(format_args!("ktest {} ... FAILED: {}\n", test.name, why));
            }
        }
    }
    print(format_args!(
        "ktest result: {passed} passed, {failed} failed\n"
    ));
    (passed, failed)
}

#[cfg(test)]
mod tests {
    crate::ktest!(
        async fn registered_on_the_host_too() {
            crate::kassert_eq!(2 + 2, 4);
            Ok(())
        }
    );

    crate::ktest!(
        async fn a_failing_example() {
            crate::kassert!(1 > 2, "one is not above {}", 2);
            Ok(())
        }
    );

    crate::ktest!(
        async fn a_failing_eq_with_message() {
            crate::kassert_eq!(1 + 1, 3, "sum of {}", "ones");
            Ok(())
        }
    );

    #[test]
    fn macros_register_and_report() {
        let names: std::vec::Vec<_> = super::selected("ktest::tests").map(|t| t.name).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let mut lines = std::vec::Vec::new();
        let (p, f) = futures_util::FutureExt::now_or_never(super::run("ktest::tests", |a| {
            lines.push(std::format!("{a}"))
        }))
        .expect("tests finish without waiting");
        assert_eq!((p, f), (1, 2));
        assert!(
            lines.iter().any(|l| l.contains("sum of ones: 2 != 3")),
            "{lines:?}"
        );
        assert!(lines.iter().any(
            |l| l.contains("a_failing_example ... FAILED") && l.contains("one is not above 2")
        ));
        assert_eq!(lines.last().unwrap(), "ktest result: 1 passed, 2 failed\n");
    }
}
