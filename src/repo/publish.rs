//! The publishing core both repository formats share. A [`Layout`] (apt, dnf) only reads
//! and renders its own indexes; everything that makes a publication safe is here, once:
//!
//! 1. **Read** the generation clients see now: the format reads its signed root
//!    (`InRelease`, `repomd.xml`), checks it against the signing key and checks every
//!    index it names against it. Nothing unsigned is believed.
//! 2. **Plan** the next generation: the packages already published, plus the new ones
//!    (from dist/, or entries taken whole from another channel's signed generation; a
//!    different file under a published name is refused), minus what retention drops.
//!    Nothing new, nothing dropped and the published generation whole: nothing is written.
//! 3. **Render and sign** it before anything is written, so a signing failure changes
//!    nothing.
//! 4. **Upload** in the order a client needs: package files, objects named by their
//!    checksum, then indexes at fixed names that only the new generation's clients read.
//!    None of this is visible to a client of the current generation.
//! 5. **Commit**: with the store's lock still held and the root still the version read in
//!    step 1, the signed root and its companions, the root written conditionally on that
//!    version (S3's `If-Match`). Clients now see the new generation.
//! 6. **Retire**: delete what no client can still need: content-addressed objects that
//!    neither the previous nor the new generation names, and retired package files dropped
//!    before the previous generation that no index, of this or any other generation in the
//!    store, names.
//!
//! A run killed anywhere leaves clients the old generation or the new one, whole, and the
//! next run completes it (a half-written commit is recognised by the format and redone
//! with the same date and content).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::package::Package;
use super::retired::Retired;
use super::tree::Tree;
use crate::digest::sha256_hex;
use crate::error::Result;
use crate::sign::Sign;
use crate::store::Held;

/// How long a store lock whose publisher stopped renewing it keeps others out, unless the
/// caller says otherwise (`repo --lock-lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// A package as a format indexes it.
pub struct Admitted<E> {
    /// Its file, relative to the repository root (`pool/...`, `Packages/...`).
    pub location: String,
    /// Where it comes from, for messages: a file of dist/, or an object of another channel.
    pub origin: String,
    /// The bytes to publish there (dnf: signed in its header); `None` when the file is in
    /// place already, named by another signed generation of the same tree (apt's suites
    /// share one pool).
    pub bytes: Option<Vec<u8>>,
    /// The SHA-256 of the file's bytes.
    pub sha256: String,
    pub entry: E,
}

/// A generation as published and checked.
pub struct Generation<E> {
    /// The version of the root object read (the commit replaces exactly this one).
    pub root_version: String,
    /// Its date (apt's `Date:`, dnf's revision), seconds since 1970.
    pub date: u64,
    /// Package file -> its entry.
    pub entries: BTreeMap<String, E>,
    /// Files its predecessors dropped, not deleted yet.
    pub retired: Retired,
    /// What it holds, in the format's words: two generations with the same fingerprint
    /// give clients the same packages the same way.
    pub fingerprint: String,
    /// Every object of its commit agrees with the root (not so after an interrupted run).
    pub complete: bool,
    /// The content-addressed objects it names (by-hash copies, dnf documents).
    pub live: BTreeSet<String>,
    /// The objects at fixed names it names (apt's plain indexes), with their SHA-256.
    pub named: BTreeMap<String, String>,
}

/// A new generation, rendered and signed.
#[derive(Default)]
pub struct Rendered {
    /// Objects named by their checksum: written unless the current generation has them.
    pub addressed: Vec<(String, Vec<u8>)>,
    /// Objects at fixed names that no client of the current generation reads.
    pub fixed: Vec<(String, Vec<u8>)>,
    /// The signed root and its companions, written last and in this order.
    pub commit: Vec<(String, Vec<u8>)>,
    /// The content-addressed objects it names.
    pub live: BTreeSet<String>,
}

/// A repository format (apt, dnf) as the core sees it: where its packages and signed
/// documents live, and how it reads and renders its indexes.
pub trait Layout {
    type Entry: Clone;
    /// The kind of package file it indexes.
    const PACKAGES: crate::definition::Format;

    /// The object clients read first and trust: its replacement publishes a generation.
    fn root(&self) -> String;
    /// Where package files live (`pool/`, `Packages/`), relative to the repository root.
    fn packages_dir(&self) -> &str;
    /// The generation clients see now, checked; `None` for a repository not made yet.
    fn read(&self, tree: &Tree, signer: &dyn Sign) -> Result<Option<Generation<Self::Entry>>>;
    /// Indexes a checked package.
    fn admit(&self, package: &Package, signer: &dyn Sign) -> Result<Admitted<Self::Entry>>;
    /// The series a package belongs to for retention: (name, arch).
    fn series(entry: &Self::Entry) -> (&str, &str);
    /// Version order within a series.
    fn compare(a: &Self::Entry, b: &Self::Entry) -> Ordering;
    /// The package's version and packaging revision as the entry records them (`2.15.1`,
    /// `1`; a pre-release as `2.12.0~RC.1`).
    fn version(entry: &Self::Entry) -> (&str, &str);
    /// The SHA-256 of the published file, as its entry records it.
    fn sha256(entry: &Self::Entry) -> &str;
    /// The fingerprint a generation of these entries has (see [`Generation`]).
    fn fingerprint(&self, entries: &BTreeMap<String, Self::Entry>) -> Result<String>;
    /// Renders and signs a generation.
    fn render(
        &self,
        entries: &BTreeMap<String, Self::Entry>,
        retired: &Retired,
        date: u64,
        current: Option<&Generation<Self::Entry>>,
        signer: &dyn Sign,
    ) -> Result<Rendered>;
    /// The prefix below which content-addressed objects live, and whether a key there is
    /// one (only those are ever swept).
    fn addressed_prefix(&self) -> String;
    fn is_addressed(&self, key: &str) -> bool;
    /// Package files that other generations in the store (other apt suites sharing the
    /// pool) name, read from their signed indexes: never deleted.
    fn named_elsewhere(&self, tree: &Tree, signer: &dyn Sign) -> Result<BTreeSet<String>>;
}

/// What a publication asks for.
pub struct Request<'a, E> {
    pub packages: &'a [Package],
    /// Entries taken whole from another signed generation (`promote`): published as they
    /// are, under the same rules as `packages`.
    pub taken: Vec<Admitted<E>>,
    /// Keep only the newest N versions of each series.
    pub keep: Option<usize>,
    /// The date of a new generation (moved past the current one's when needed).
    pub date: u64,
}

impl<'a, E> Request<'a, E> {
    pub fn new(
        packages: &'a [Package],
        taken: Option<Vec<Admitted<E>>>,
        keep: Option<usize>,
        date: u64,
    ) -> Self {
        Self {
            packages,
            taken: taken.unwrap_or_default(),
            keep,
            date,
        }
    }
}

/// What a publication did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Package files added, relative to the repository root.
    pub added: Vec<String>,
    /// Package files this run dropped from the indexes (retention).
    pub retired: Vec<String>,
    /// Package files deleted: dropped earlier and named by no index a client may read.
    pub deleted: Vec<String>,
    /// Nothing in the store changed.
    pub unchanged: bool,
}

/// Publishes `packages` (checked by `Package::read`) into the repository at `root` in
/// `store`, under the store's lock taken for this one publication; `keep`: the newest N
/// versions of each series stay; `date`: of the new generation, seconds since 1970.
pub fn update<F: Layout>(
    format: &F,
    store: &dyn crate::store::Store,
    root: &str,
    packages: &[Package],
    keep: Option<usize>,
    date: u64,
    signer: &dyn Sign,
) -> Result<Report> {
    let lock = store.lock(DEFAULT_LEASE)?;
    let request = Request::new(packages, None, keep, date);
    publish(
        format,
        &Tree { store, root },
        request,
        signer,
        lock.as_ref(),
    )
}

/// Publishes `request` into the repository `tree` in the format `format` (see the module
/// documentation). `lock` is the store's publication lock, held by the caller.
pub fn publish<F: Layout>(
    format: &F,
    tree: &Tree,
    request: Request<F::Entry>,
    signer: &dyn Sign,
    lock: &dyn Held,
) -> Result<Report> {
    if request.keep == Some(0) {
        return Err(tree.error("", "keep must be at least 1 (the newest version)".into()));
    }
    let current = format.read(tree, signer)?;
    let (mut entries, mut retired) = match &current {
        Some(c) => (c.entries.clone(), c.retired.clone()),
        None => (BTreeMap::new(), Retired::default()),
    };

    // The packages asked for, checked against each other and against the published ones.
    let mut admitted = request
        .packages
        .iter()
        .map(|package| format.admit(package, signer))
        .collect::<Result<Vec<_>>>()?;
    admitted.extend(request.taken);
    let mut to_add: BTreeMap<String, Admitted<F::Entry>> = BTreeMap::new();
    for admitted in admitted {
        if let Some(first) = to_add.get(&admitted.location) {
            if first.sha256 != admitted.sha256 {
                return Err(tree.error(
                    &admitted.location,
                    format!(
                        "{} and {} would both be published here with different content",
                        admitted.origin, first.origin
                    ),
                ));
            }
            continue;
        }
        if let Some(published) = current
            .as_ref()
            .and_then(|c| c.entries.get(&admitted.location))
        {
            if F::sha256(published) != admitted.sha256 {
                return Err(tree.error(
                    &admitted.location,
                    format!(
                        "is already published with different content (sha256 {}) than {} \
                         (sha256 {}); a published file is never replaced: build it with a new \
                         revision",
                        F::sha256(published),
                        admitted.origin,
                        admitted.sha256
                    ),
                ));
            }
            continue;
        }
        entries.insert(admitted.location.clone(), admitted.entry.clone());
        to_add.insert(admitted.location.clone(), admitted);
    }

    // Retention: a package dropped at once is never uploaded.
    let dropped = match request.keep {
        Some(keep) => retain::<F>(&mut entries, keep),
        None => Vec::new(),
    };
    to_add.retain(|location, _| entries.contains_key(location));
    if entries.is_empty() {
        return Err(tree.error(
            &format.root(),
            "no package given and none published: nothing to index".into(),
        ));
    }
    let newly_retired: Vec<String> = current
        .iter()
        .flat_map(|c| c.entries.keys())
        .filter(|location| !entries.contains_key(*location))
        .cloned()
        .collect();
    // A package published again leaves the retired list.
    retired.0.retain(|file, _| !entries.contains_key(file));

    let fingerprint = format.fingerprint(&entries)?;
    let same = current
        .as_ref()
        .is_some_and(|c| c.fingerprint == fingerprint);
    let mut sweeper = Sweeper::new(format, tree, signer, &entries);
    if same && to_add.is_empty() && newly_retired.is_empty() {
        let current = current.as_ref().expect("same as a current generation");
        if current.complete {
            // Nothing to publish; files dropped before the current generation may go.
            let deleted = sweeper.delete_retired(current.retired.dropped_before(current.date))?;
            return Ok(Report {
                unchanged: deleted.is_empty(),
                deleted,
                ..Report::default()
            });
        }
    }

    // Completing an interrupted run of the same content keeps its date and list; anything
    // else is a new generation dated after the current one.
    let completing = same && current.as_ref().is_some_and(|c| !c.complete);
    let (date, retired) = match &current {
        Some(c) if completing => (c.date, c.retired.clone()),
        Some(c) => {
            let date = request.date.max(c.date + 1);
            // Dropped before the current generation: deleted before this one is committed
            // (no client of the current or the previous generation needs them).
            let due: Vec<String> = c.retired.dropped_before(c.date).cloned().collect();
            retired.0.retain(|file, _| !due.contains(file));
            retired
                .0
                .extend(newly_retired.iter().map(|f| (f.clone(), date)));
            sweeper.due = due;
            (date, retired)
        }
        None => (request.date, retired),
    };

    let rendered = format.render(&entries, &retired, date, current.as_ref(), signer)?;

    let no_live = BTreeSet::new();
    let live_now = current.as_ref().map_or(&no_live, |c| &c.live);
    for (location, admitted) in &to_add {
        let Some(bytes) = &admitted.bytes else {
            continue;
        };
        // A file already there (another channel names it, or an interrupted run left it)
        // is kept if it is the same and never replaced if it is not.
        if sweeper.existing()?.contains(location) {
            let there = tree.get(location)?.map(|b| sha256_hex(&b));
            if there.as_deref() == Some(admitted.sha256.as_str()) {
                continue;
            }
            if let Some(there) = there {
                return Err(tree.error(
                    location,
                    format!(
                        "is already in the store with different content (sha256 {there}) than \
                         {} (sha256 {}), named by another channel or left by an earlier run; a \
                         published file is never replaced: build it with a new revision",
                        admitted.origin, admitted.sha256
                    ),
                ));
            }
        }
        tree.put(location, bytes)?;
    }
    for (key, data) in &rendered.addressed {
        if !live_now.contains(key) {
            tree.put(key, data)?;
        }
    }
    for (key, data) in &rendered.fixed {
        tree.put(key, data)?;
    }
    let due = std::mem::take(&mut sweeper.due);
    let mut deleted = sweeper.delete_retired(due.iter())?;

    // The commit: only over the generation this run started from.
    lock.check()?;
    let root = format.root();
    let expected = current.as_ref().map(|c| c.root_version.as_str());
    let now = tree.get_versioned(&root)?.map(|(_, version)| version);
    if now.as_deref() != expected {
        return Err(tree.contended(&root));
    }
    for (key, data) in &rendered.commit {
        if *key == root {
            tree.put_if(key, data, expected)?;
        } else {
            tree.put(key, data)?;
        }
    }

    // What no client can need any more. Not when completing: the objects of the generation
    // before the interrupted one are named by no root left in the store, yet its clients
    // may still read them; the next publication sweeps them.
    let keep: BTreeSet<&String> = live_now.iter().chain(&rendered.live).collect();
    let sweep = if completing {
        Vec::new()
    } else {
        tree.list(&format.addressed_prefix())?
    };
    for key in sweep {
        if format.is_addressed(&key) && !keep.contains(&key) {
            tree.delete(&key)?;
        }
    }
    // Clients now read the new generation or the one before it (the current one, or when
    // completing, its predecessor): files dropped before that one go.
    let bound = match &current {
        Some(_) if completing => date,
        Some(c) => c.date + 1,
        None => 0,
    };
    let now_due: Vec<String> = retired.dropped_before(bound).cloned().collect();
    deleted.extend(sweeper.delete_retired(now_due.iter())?);
    deleted.sort();
    deleted.dedup();
    Ok(Report {
        added: to_add.into_keys().collect(),
        retired: dropped,
        deleted,
        unchanged: false,
    })
}

/// Keeps the newest `keep` versions of each series; returns the files dropped.
fn retain<F: Layout>(entries: &mut BTreeMap<String, F::Entry>, keep: usize) -> Vec<String> {
    // (name, arch) -> the locations of its versions.
    let mut series: BTreeMap<(&str, &str), Vec<&String>> = BTreeMap::new();
    for (location, entry) in entries.iter() {
        series.entry(F::series(entry)).or_default().push(location);
    }
    let mut dropped = Vec::new();
    for versions in series.values_mut() {
        versions.sort_by(|a, b| F::compare(&entries[*b], &entries[*a]));
        dropped.extend(versions.iter().skip(keep).map(|l| (*l).clone()));
    }
    for location in &dropped {
        entries.remove(location);
    }
    dropped
}

/// Deletes retired package files, once sure no index names them.
struct Sweeper<'a, F: Layout> {
    format: &'a F,
    tree: &'a Tree<'a>,
    signer: &'a dyn Sign,
    entries: &'a BTreeMap<String, F::Entry>,
    /// Read when first needed: what other generations in the store name, and which
    /// package files exist.
    elsewhere: Option<BTreeSet<String>>,
    existing: Option<BTreeSet<String>>,
    due: Vec<String>,
}

impl<'a, F: Layout> Sweeper<'a, F> {
    fn new(
        format: &'a F,
        tree: &'a Tree<'a>,
        signer: &'a dyn Sign,
        entries: &'a BTreeMap<String, F::Entry>,
    ) -> Self {
        Self {
            format,
            tree,
            signer,
            entries,
            elsewhere: None,
            existing: None,
            due: Vec::new(),
        }
    }

    /// The package files in the store, listed when first needed.
    fn existing(&mut self) -> Result<&mut BTreeSet<String>> {
        if self.existing.is_none() {
            let listed = self.tree.list(self.format.packages_dir())?;
            self.existing = Some(listed.into_iter().collect());
        }
        Ok(self.existing.as_mut().expect("listed above"))
    }

    /// Deletes those of `files` that exist and that no index names; returns them.
    fn delete_retired<'f>(
        &mut self,
        files: impl Iterator<Item = &'f String>,
    ) -> Result<Vec<String>> {
        let files: Vec<&String> = files.filter(|f| !self.entries.contains_key(*f)).collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        if self.elsewhere.is_none() {
            self.elsewhere = Some(self.format.named_elsewhere(self.tree, self.signer)?);
        }
        self.existing()?;
        let elsewhere = self.elsewhere.as_ref().expect("read above");
        let existing = self.existing.as_mut().expect("read above");
        let mut deleted = Vec::new();
        for file in files {
            if elsewhere.contains(file) || !existing.contains(file) {
                continue;
            }
            self.tree.delete(file)?;
            existing.remove(file);
            deleted.push(file.clone());
        }
        Ok(deleted)
    }
}
