//! `#!` scripts: an executable file that starts with `#!` names its
//! interpreter on the first line (`#!/bin/sh -e`). `execve` then runs the
//! interpreter with `argv = [interpreter, (optional argument,) script
//! path, original argv[1..]]`, as Linux's `binfmt_script` does. The one
//! optional argument is the rest of the line after the interpreter,
//! trimmed (not split). Pure and host-tested; `syscall::exec` applies it,
//! at most [`MAX_DEPTH`] times (a script whose interpreter is a script).

use alloc::vec::Vec;

/// How many interpreters deep `execve` follows (Linux's
/// `BINPRM_MAX_RECURSION`, which counts the same way).
pub const MAX_DEPTH: usize = 4;
/// The longest first line looked at (Linux's `BINPRM_BUF_SIZE`): a line
/// that does not end within it is refused.
pub const LINE_MAX: usize = 256;

/// A parsed `#!` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang<'a> {
    pub interpreter: &'a [u8],
    pub arg: Option<&'a [u8]>,
}

/// Why a `#!` file cannot be run (`ENOEXEC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptError {
    /// No interpreter after `#!`.
    NoInterpreter,
    /// The first line does not end within [`LINE_MAX`] bytes.
    LineTooLong,
}

/// `None` if `image` is not a script; else its interpreter and argument.
pub fn parse(image: &[u8]) -> Option<Result<Shebang<'_>, ScriptError>> {
    let rest = image.strip_prefix(b"#!")?;
    let window = &rest[..rest.len().min(LINE_MAX - 2)];
    let line = match window.iter().position(|&b| b == b'\n') {
        Some(end) => &window[..end],
        None if rest.len() <= LINE_MAX - 2 => window,
        None => return Some(Err(ScriptError::LineTooLong)),
    };
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let line = trim(line, blank);
    if line.is_empty() {
        return Some(Err(ScriptError::NoInterpreter));
    }
    let (interpreter, arg) = match line.iter().position(blank) {
        Some(at) => (&line[..at], Some(trim(&line[at..], blank))),
        None => (line, None),
    };
    Some(Ok(Shebang {
        interpreter,
        arg: arg.filter(|a| !a.is_empty()),
    }))
}

fn trim(s: &[u8], blank: impl Fn(&u8) -> bool) -> &[u8] {
    let start = s.iter().position(|b| !blank(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// The interpreter's argv: `[interpreter, arg?, script, argv[1..]]`.
pub fn argv(shebang: &Shebang<'_>, script: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    out.push(shebang.interpreter.to_vec());
    if let Some(arg) = shebang.arg {
        out.push(arg.to_vec());
    }
    out.push(script.to_vec());
    out.extend(argv.iter().skip(1).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn parses_interpreter_and_one_argument() {
        assert_eq!(parse(b"\x7fELF..."), None);
        assert_eq!(parse(b""), None);
        assert_eq!(
            parse(b"#!/bin/sh\necho hi\n"),
            Some(Ok(Shebang {
                interpreter: b"/bin/sh",
                arg: None
            }))
        );
        assert_eq!(
            parse(b"#! \t/bin/sh  -e -x \t\nrest"),
            Some(Ok(Shebang {
                interpreter: b"/bin/sh",
                arg: Some(b"-e -x")
            }))
        );
        // No newline at all: the whole (short) file is the line.
        assert_eq!(
            parse(b"#!/x"),
            Some(Ok(Shebang {
                interpreter: b"/x",
                arg: None
            }))
        );
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(parse(b"#!\n"), Some(Err(ScriptError::NoInterpreter)));
        assert_eq!(
            parse(b"#!   \t\n/bin/sh"),
            Some(Err(ScriptError::NoInterpreter))
        );
        let mut long = b"#!/".to_vec();
        long.extend(vec![b'a'; LINE_MAX]);
        long.push(b'\n');
        assert_eq!(parse(&long), Some(Err(ScriptError::LineTooLong)));
        let mut just = b"#!/".to_vec();
        just.extend(vec![b'a'; LINE_MAX - 4]);
        just.push(b'\n');
        assert!(matches!(parse(&just), Some(Ok(_))));
    }

    #[test]
    fn argv_puts_the_script_after_the_interpreter() {
        let with_arg = Shebang {
            interpreter: b"/bin/sh",
            arg: Some(b"-e"),
        };
        let original = vec![b"run".to_vec(), b"a".to_vec(), b"b".to_vec()];
        assert_eq!(
            argv(&with_arg, b"/s", &original),
            [&b"/bin/sh"[..], b"-e", b"/s", b"a", b"b"]
        );
        let bare = Shebang {
            interpreter: b"/bin/sh",
            arg: None,
        };
        assert_eq!(argv(&bare, b"/s", &[]), [&b"/bin/sh"[..], b"/s"]);
    }
}
