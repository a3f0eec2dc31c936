//! Finding and reading profile files: the only part of `profile` that touches the file system
//! or the environment. Parsing and validation stay pure in [`Profile::from_toml`].

use super::{Profile, ProfileError, ProfileSource, BUILTIN, BUILTIN_ORIGIN};
use std::path::{Path, PathBuf};

/// Where named profiles are looked for, in order.
pub fn profile_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PACKWRIGHT_PROFILES") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("profiles"));
    dirs
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Profile {
    /// Load a profile by name (`lfp-16s1p-280ah`) or by path to a `.toml` file.
    ///
    /// A name is looked up in `$PACKWRIGHT_PROFILES`, then `./profiles`, then the built-ins.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        Self::load_with_source(name_or_path).map(|(p, _)| p)
    }

    /// [`Profile::load`], with the text it was read from and where (an absolute path, or
    /// `built-in 'name'`), so the text can travel with a pack.
    pub fn load_with_source(name_or_path: &str) -> Result<(Profile, ProfileSource), ProfileError> {
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
        if looks_like_path {
            return Self::load_file_with_source(Path::new(name_or_path));
        }
        let mut searched = Vec::new();
        for dir in profile_dirs() {
            let path = dir.join(format!("{name_or_path}.toml"));
            searched.push(path.display().to_string());
            if path.is_file() {
                return Self::load_file_with_source(&path);
            }
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            let origin = format!("{BUILTIN_ORIGIN}'{name}'");
            let profile = Self::from_toml(name, &origin, text)?;
            return Ok((
                profile,
                ProfileSource {
                    text: text.to_string(),
                    origin,
                },
            ));
        }
        Err(ProfileError::NotFound {
            name: name_or_path.to_string(),
            searched: searched.join(", "),
            builtin: BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
        Self::load_file_with_source(path).map(|(p, _)| p)
    }

    fn load_file_with_source(path: &Path) -> Result<(Profile, ProfileSource), ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut profile = Self::from_toml(&stem(path), &path.display().to_string(), &text)?;
        if let (Some(dbc), Some(dir)) = (&profile.bms.dbc, path.parent()) {
            profile.bms.dbc = Some(dir.join(dbc));
        }
        let origin = std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string();
        Ok((profile, ProfileSource { text, origin }))
    }

    /// The text now at a kept profile's origin, if it can still be read.
    pub fn text_at_origin(origin: &str) -> Option<String> {
        match origin.strip_prefix(BUILTIN_ORIGIN) {
            Some(quoted) => {
                let name = quoted.trim_matches('\'');
                BUILTIN
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| t.to_string())
            }
            None => std::fs::read_to_string(origin).ok(),
        }
    }

    /// Every profile that can be named: files in the profile directories, then built-ins not
    /// shadowed by a file. Profiles that fail to load are listed with their error.
    pub fn list() -> Vec<(String, Result<Profile, ProfileError>)> {
        let mut out: Vec<(String, Result<Profile, ProfileError>)> = Vec::new();
        for dir in profile_dirs() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let name = stem(&path);
                if out.iter().all(|(n, _)| *n != name) {
                    out.push((name, Self::load_file(&path)));
                }
            }
        }
        for (name, _) in BUILTIN {
            if out.iter().all(|(n, _)| n != name) {
                out.push((name.to_string(), Self::load(name)));
            }
        }
        out
    }
}
