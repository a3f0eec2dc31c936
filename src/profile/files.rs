//! Finding and reading profile files: the only part of `profile` that touches the file system
//! or the environment. Parsing and validation stay pure in [`Profile::from_toml`].

use super::{Profile, ProfileError, BUILTIN};
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
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
        if looks_like_path {
            return Self::load_file(Path::new(name_or_path));
        }
        let mut searched = Vec::new();
        for dir in profile_dirs() {
            let path = dir.join(format!("{name_or_path}.toml"));
            searched.push(path.display().to_string());
            if path.is_file() {
                return Self::load_file(&path);
            }
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(name, &format!("built-in '{name}'"), text);
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
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut profile = Self::from_toml(&stem(path), &path.display().to_string(), &text)?;
        if let (Some(dbc), Some(dir)) = (&profile.bms.dbc, path.parent()) {
            profile.bms.dbc = Some(dir.join(dbc));
        }
        Ok(profile)
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
