using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Manifest;

namespace Ferry.Pipeline;

/// <summary>What <c>ferry ingest</c> did: the files it registered, those it skipped (and why), and files it could not place.</summary>
public sealed record IngestResult(IReadOnlyList<RegisteredFile> Registered, IReadOnlyList<string> Skipped, int Known, IReadOnlyList<string> Problems);

/// <summary>
/// Scans the landing folder for each file type's pattern and registers every file whose content
/// (SHA-256) is new. A file with the content of a registered, validated or loaded file is skipped
/// and named; one with the content of a rejected file is skipped as unchanged since its rejection;
/// one with the content of a rolled-back file is registered again, as a new version. Files are
/// registered in processing order: file date, then name.
/// </summary>
public static class Ingest
{
    public static async Task<IngestResult> RunAsync(MigrationManifest manifest, PipelineLedger ledger, CancellationToken cancellationToken)
    {
        var landing = manifest.Landing ?? throw new Ferry.Sources.SourceException(Path.GetFileName(manifest.FilePath), 0, "landing",
            "the manifest has no 'landing' section: there are no files to ingest");
        var clock = Stopwatch.StartNew();
        var folder = Path.GetFullPath(Path.Combine(manifest.Directory, landing.Folder));
        if (!Directory.Exists(folder))
            throw new Ferry.Sources.SourceException(landing.Folder, 0, "landing", $"the landing folder {folder} does not exist");

        var problems = new List<string>();
        var candidates = new List<(FileTypeSpec Type, FileInfo File, DateOnly Date)>();
        var options = new EnumerationOptions { MatchCasing = MatchCasing.CaseInsensitive, RecurseSubdirectories = false, MatchType = MatchType.Simple };
        var types = new Dictionary<string, FileTypeSpec>(StringComparer.Ordinal);
        foreach (var type in landing.Files)
            foreach (var path in Directory.EnumerateFiles(folder, type.Pattern, options))
            {
                var name = Path.GetFileName(path);
                // An open spreadsheet's lock file (~$name.xlsx) and hidden files are not deliveries.
                if (name.StartsWith("~$", StringComparison.Ordinal) || name.StartsWith('.'))
                    continue;
                if (types.TryGetValue(name, out var other))
                {
                    problems.Add($"{name} matches the patterns of file types '{other.Name}' and '{type.Name}': not registered (make the patterns distinct)");
                    candidates.RemoveAll(c => c.File.Name == name);
                    continue;
                }
                types[name] = type;
                var file = new FileInfo(path);
                var date = type.Order == FileOrder.Mtime ? DateOnly.FromDateTime(file.LastWriteTimeUtc) : FileDates.FromName(name);
                if (date is null)
                    problems.Add($"{name}: no date in its name (file type '{type.Name}' is ordered by name_date: yyyy-MM-dd, yyyyMMdd, yyyy-MM or yyyyMM): not registered");
                else
                    candidates.Add((type, file, date.Value));
            }

        var registered = new List<RegisteredFile>();
        var skipped = new List<string>();
        var known = 0;
        foreach (var (type, file, date) in candidates.OrderBy(c => c.Date).ThenBy(c => c.File.Name, StringComparer.Ordinal))
        {
            var started = Stopwatch.StartNew();
            var sha = await Sha256Async(file.FullName, cancellationToken).ConfigureAwait(false);
            var relative = Path.GetRelativePath(manifest.Directory, file.FullName);
            var same = await ledger.WithHashAsync(sha, cancellationToken).ConfigureAwait(false);
            var active = same.FirstOrDefault(f => f.Status != FileStatus.RolledBack);
            if (active is not null && active.Path == relative && active.Status != FileStatus.Rejected)
            {
                known++; // the file already registered, found again where it was
                continue;
            }
            if (active is not null)
            {
                var message = active.Status == FileStatus.Rejected
                    ? $"{file.Name} is unchanged since it was rejected as version {active.Id} ({active.Name}): skipped; correct it and drop it again"
                    : $"{file.Name} is the same as {active.Name} (version {active.Id}): skipped";
                skipped.Add(message);
                await ledger.AuditAsync("ingest", active.Id, null, Counts(("size", file.Length)), started.Elapsed, "skipped", message, null, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var id = await ledger.RegisterAsync(type.Name, relative, file.Name, sha, file.Length, file.LastWriteTimeUtc, date, cancellationToken).ConfigureAwait(false);
            var again = same.Count > 0 ? $" (the content of rolled-back version {same[0].Id})" : "";
            await ledger.AuditAsync("ingest", id, null, Counts(("size", file.Length)), started.Elapsed, "registered",
                $"{file.Name} registered as version {id} of file type '{type.Name}', dated {date:yyyy-MM-dd}{again}", null, cancellationToken).ConfigureAwait(false);
            registered.Add((await ledger.GetAsync(id, cancellationToken).ConfigureAwait(false))!);
        }
        foreach (var problem in problems)
            await ledger.AuditAsync("ingest", null, null, null, TimeSpan.Zero, "failed", null, problem, cancellationToken).ConfigureAwait(false);
        await ledger.AuditAsync("ingest", null, null,
            Counts(("registered", registered.Count), ("skipped", skipped.Count), ("known", known), ("problems", problems.Count)),
            clock.Elapsed, problems.Count > 0 ? "failed" : "succeeded", $"scanned {folder}", null, cancellationToken).ConfigureAwait(false);
        return new IngestResult(registered, skipped, known, problems);
    }

    internal static string Counts(params (string Name, long Value)[] counts) =>
        JsonSerializer.Serialize(counts.ToDictionary(c => c.Name, c => c.Value));

    /// <summary>A file's SHA-256 as lower-case hex: the identity of a version's content.</summary>
    internal static async Task<string> Sha256Async(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}
