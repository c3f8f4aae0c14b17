//! The command language: words, quotes, `|`, `<`, `>`, `>>`, `&`, `;`.
//!
//! [`tokenize`] splits a line into [`Token`]s: blanks separate words;
//! `'...'` keeps everything literally; `"..."` keeps everything but `\"`
//! and `\\`; a backslash outside quotes takes the next byte literally; a
//! word starting with `#` begins a comment. `$?` outside single quotes
//! becomes [`STATUS_MARK`], which [`Job::expand_status`] replaces with the
//! last status just before the job runs (so `false; echo $?` sees the
//! status of `false`). [`parse`] groups the tokens
//! into [`Job`]s (separated by `;` or ended by `&`), each a pipeline of
//! [`Stage`]s with their redirections.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Where `$?` stood in a word (a private-use character no one types).
pub const STATUS_MARK: char = '\u{E000}';

/// One token of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Word(String),
    /// `|`
    Pipe,
    /// `<`
    Less,
    /// `>`
    Great,
    /// `>>`
    DGreat,
    /// `&`
    Amp,
    /// `;`
    Semi,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Token::Word(w) => w,
            Token::Pipe => "|",
            Token::Less => "<",
            Token::Great => ">",
            Token::DGreat => ">>",
            Token::Amp => "&",
            Token::Semi => ";",
        })
    }
}

/// Why a line does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote without its closing partner.
    UnterminatedQuote(char),
    /// A token where it cannot be (`| x`, `x | | y`, `> |`), or the end
    /// of the line after an operator (`None`).
    Unexpected(Option<String>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnterminatedQuote(q) => write!(f, "unterminated {q}"),
            ParseError::Unexpected(Some(t)) => write!(f, "syntax error near '{t}'"),
            ParseError::Unexpected(None) => write!(f, "syntax error: unexpected end of line"),
        }
    }
}

/// Splits `line` into tokens (module docs).
pub fn tokenize(line: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    // The word being built; `None` between words (so `''` is an empty
    // word, not nothing).
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
            }
            '#' if word.is_none() => break,
            '|' | '<' | '>' | '&' | ';' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
                tokens.push(match c {
                    '|' => Token::Pipe,
                    '<' => Token::Less,
                    '>' if chars.peek() == Some(&'>') => {
                        chars.next();
                        Token::DGreat
                    }
                    '>' => Token::Great,
                    '&' => Token::Amp,
                    _ => Token::Semi,
                });
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(ParseError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') if matches!(chars.peek(), Some('"' | '\\')) => {
                            w.push(chars.next().unwrap_or('\\'));
                        }
                        Some('$') if chars.peek() == Some(&'?') => {
                            chars.next();
                            w.push(STATUS_MARK);
                        }
                        Some(c) => w.push(c),
                        None => return Err(ParseError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(next) = chars.next() {
                    w.push(next);
                }
            }
            '$' if chars.peek() == Some(&'?') => {
                chars.next();
                word.get_or_insert_with(String::new).push(STATUS_MARK);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        tokens.push(Token::Word(w));
    }
    Ok(tokens)
}

/// Where a stage's standard output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRedirect {
    pub path: String,
    /// `>>`: append instead of truncating.
    pub append: bool,
}

/// One command of a pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stage {
    /// The command and its arguments (never empty).
    pub argv: Vec<String>,
    /// `< path`
    pub stdin: Option<String>,
    /// `> path` or `>> path`
    pub stdout: Option<OutRedirect>,
}

/// A pipeline, run in the foreground or (`&`) in the background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The stages, left to right (at least one).
    pub stages: Vec<Stage>,
    pub background: bool,
}

impl Job {
    /// Replaces every `$?` ([`STATUS_MARK`]) in the job's words and paths
    /// with `status`.
    pub fn expand_status(&mut self, status: i32) {
        let value = alloc::format!("{status}");
        let expand = |w: &mut String| {
            if w.contains(STATUS_MARK) {
                *w = w.replace(STATUS_MARK, &value);
            }
        };
        for stage in &mut self.stages {
            stage.argv.iter_mut().for_each(expand);
            stage.stdin.iter_mut().for_each(expand);
            stage.stdout.iter_mut().for_each(|o| expand(&mut o.path));
        }
    }

    /// The job as the user would type it (for `jobs`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            s.push_str(&stage.argv.join(" "));
            if let Some(path) = &stage.stdin {
                s.push_str(" < ");
                s.push_str(path);
            }
            if let Some(out) = &stage.stdout {
                s.push_str(if out.append { " >> " } else { " > " });
                s.push_str(&out.path);
            }
        }
        if self.background {
            s.push_str(" &");
        }
        s
    }
}

/// Parses a command line into jobs (module docs). An empty line (or a
/// comment) is no job.
pub fn parse(line: &str) -> Result<Vec<Job>, ParseError> {
    let tokens = tokenize(line)?;
    let mut jobs = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut stage = Stage::default();
    let mut iter = tokens.into_iter();
    let unexpected = |t: Option<Token>| ParseError::Unexpected(t.map(|t| alloc::format!("{t}")));
    while let Some(token) = iter.next() {
        match token {
            Token::Word(w) => stage.argv.push(w),
            Token::Less | Token::Great | Token::DGreat => {
                let path = match iter.next() {
                    Some(Token::Word(w)) => w,
                    other => return Err(unexpected(other)),
                };
                match token {
                    Token::Less => stage.stdin = Some(path),
                    _ => {
                        stage.stdout = Some(OutRedirect {
                            path,
                            append: token == Token::DGreat,
                        })
                    }
                }
            }
            Token::Pipe => {
                if stage.argv.is_empty() {
                    return Err(unexpected(Some(Token::Pipe)));
                }
                stages.push(core::mem::take(&mut stage));
            }
            Token::Amp | Token::Semi => {
                if stage.argv.is_empty() {
                    // `;` alone after a job (`a; ;`) or at the start.
                    if stages.is_empty() && token == Token::Semi && !jobs.is_empty() {
                        continue;
                    }
                    return Err(unexpected(Some(token)));
                }
                stages.push(core::mem::take(&mut stage));
                jobs.push(Job {
                    stages: core::mem::take(&mut stages),
                    background: token == Token::Amp,
                });
            }
        }
    }
    if stage.argv.is_empty() {
        if !stages.is_empty() {
            // `a |` at the end.
            return Err(ParseError::Unexpected(None));
        }
        if stage.stdin.is_some() || stage.stdout.is_some() {
            // `> file` alone.
            return Err(ParseError::Unexpected(None));
        }
    } else {
        stages.push(stage);
        jobs.push(Job {
            stages,
            background: false,
        });
    }
    Ok(jobs)
}

/// Where to find program `name`: itself if it has a `/`, else in each of
/// `path`'s `:`-separated directories in turn (the caller tries them).
pub fn search_path<'a>(name: &'a str, path: &'a str) -> impl Iterator<Item = String> + 'a {
    let direct = name.contains('/').then(|| String::from(name));
    let dirs = (!name.contains('/') && !name.is_empty())
        .then(|| path.split(':').filter(|d| !d.is_empty()))
        .into_iter()
        .flatten()
        .map(move |dir| {
            let mut p = String::from(dir);
            if !p.ends_with('/') {
                p.push('/');
            }
            p.push_str(name);
            p
        });
    direct.into_iter().chain(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w,
                other => panic!("operator {other:?}"),
            })
            .collect()
    }

    fn argv(stage: &Stage) -> Vec<&str> {
        stage.argv.iter().map(String::as_str).collect()
    }

    #[test]
    fn blanks_separate_words() {
        assert_eq!(words("  echo   a\tb  "), ["echo", "a", "b"]);
        assert!(tokenize("").unwrap().is_empty());
        assert!(tokenize("   ").unwrap().is_empty());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(words("echo 'a  b' \"c d\""), ["echo", "a  b", "c d"]);
        assert_eq!(words(r#"echo "a\"b" 'x\y'"#), ["echo", "a\"b", "x\\y"]);
        assert_eq!(words(r"echo a\ b \|"), ["echo", "a b", "|"]);
        assert_eq!(words("echo '' x\"\"y"), ["echo", "", "xy"]);
        assert_eq!(words("echo 'a|b>c'"), ["echo", "a|b>c"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert_eq!(
            tokenize("echo 'a"),
            Err(ParseError::UnterminatedQuote('\''))
        );
        assert_eq!(
            tokenize("echo \"a"),
            Err(ParseError::UnterminatedQuote('"'))
        );
    }

    #[test]
    fn operators_need_no_blanks() {
        assert_eq!(
            tokenize("a|b>c<d>>e&;").unwrap(),
            vec![
                Token::Word("a".into()),
                Token::Pipe,
                Token::Word("b".into()),
                Token::Great,
                Token::Word("c".into()),
                Token::Less,
                Token::Word("d".into()),
                Token::DGreat,
                Token::Word("e".into()),
                Token::Amp,
                Token::Semi,
            ]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(words("echo a # b c"), ["echo", "a"]);
        assert_eq!(words("echo a#b"), ["echo", "a#b"]);
        assert!(parse("# nothing").unwrap().is_empty());
    }

    #[test]
    fn a_pipeline_with_redirections() {
        let jobs = parse("cat < in | grep x | wc > out &").unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert!(job.background);
        assert_eq!(job.stages.len(), 3);
        assert_eq!(argv(&job.stages[0]), ["cat"]);
        assert_eq!(job.stages[0].stdin.as_deref(), Some("in"));
        assert_eq!(argv(&job.stages[1]), ["grep", "x"]);
        assert_eq!(
            job.stages[2].stdout,
            Some(OutRedirect {
                path: "out".into(),
                append: false
            })
        );
        assert_eq!(job.text(), "cat < in | grep x | wc > out &");
    }

    #[test]
    fn redirections_anywhere_in_a_stage() {
        let jobs = parse(">> log echo a b").unwrap();
        assert_eq!(argv(&jobs[0].stages[0]), ["echo", "a", "b"]);
        assert!(jobs[0].stages[0].stdout.as_ref().unwrap().append);
    }

    #[test]
    fn several_jobs() {
        let jobs = parse("sleep 5 & echo a; echo b;").unwrap();
        assert_eq!(jobs.len(), 3);
        assert!(jobs[0].background);
        assert!(!jobs[1].background);
        assert_eq!(argv(&jobs[2].stages[0]), ["echo", "b"]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn syntax_errors() {
        let near = |t: &str| Err(ParseError::Unexpected(Some(t.into())));
        assert_eq!(parse("| a"), near("|"));
        assert_eq!(parse("a | | b"), near("|"));
        assert_eq!(parse("a > | b"), near("|"));
        assert_eq!(parse("&"), near("&"));
        assert_eq!(parse("; a"), near(";"));
        assert_eq!(parse("a |"), Err(ParseError::Unexpected(None)));
        assert_eq!(parse("a >"), Err(ParseError::Unexpected(None)));
        assert_eq!(parse("> f"), Err(ParseError::Unexpected(None)));
        assert_eq!(
            alloc::format!("{}", parse("a | | b").unwrap_err()),
            "syntax error near '|'"
        );
    }

    #[test]
    fn path_search() {
        let v: Vec<String> = search_path("ls", "/bin:/usr/bin/").collect();
        assert_eq!(v, ["/bin/ls", "/usr/bin/ls"]);
        let v: Vec<String> = search_path("./x", "/bin").collect();
        assert_eq!(v, ["./x"]);
        let v: Vec<String> = search_path("/bin/x", "/bin").collect();
        assert_eq!(v, ["/bin/x"]);
        assert_eq!(search_path("", "/bin").count(), 0);
    }

    #[test]
    fn status_expands_when_the_job_runs_not_in_single_quotes() {
        let mut jobs = parse("false; echo $? \"[$?]\" '$?' a$?b").unwrap();
        let mut echo = jobs.remove(1);
        echo.expand_status(127);
        assert_eq!(echo.stages[0].argv, ["echo", "127", "[127]", "$?", "a127b"]);
        let mut redirected = parse("echo > out$?").unwrap().remove(0);
        redirected.expand_status(1);
        assert_eq!(redirected.stages[0].stdout.as_ref().unwrap().path, "out1");
    }
}
