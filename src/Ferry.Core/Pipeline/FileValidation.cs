using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Threading.Channels;
using System.Text.Json.Serialization;
using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Sources;

namespace Ferry.Pipeline;

/// <summary>One problem found in a file: where, which rule, and why.</summary>
public sealed record FileProblem(
    [property: JsonPropertyName("line")] long Line,
    [property: JsonPropertyName("column")] string? Column,
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("entity")] string? Entity,
    [property: JsonPropertyName("message")] string Message);

/// <summary>
/// What validating a file found. A file with a <c>fatal</c> problem, a missing column or unreadable
/// content is rejected; rows with <c>error</c> problems are rejected one by one when the file loads.
/// </summary>
public sealed record ValidationReport(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("rejected")] bool Rejected,
    [property: JsonPropertyName("rows")] long Rows,
    [property: JsonPropertyName("fatal")] long Fatal,
    [property: JsonPropertyName("rows_with_errors")] long RowsWithErrors,
    [property: JsonPropertyName("warnings")] long Warnings,
    [property: JsonPropertyName("missing_columns")] IReadOnlyList<string> MissingColumns,
    [property: JsonPropertyName("problems")] IReadOnlyList<FileProblem> Problems,
    [property: JsonPropertyName("counts_by_rule")] IReadOnlyDictionary<string, long> CountsByRule,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("stage")] string? Stage)
{
    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>One line for a person: why a file was rejected, or what it holds.</summary>
    public string Summary()
    {
        if (!Rejected)
            return $"{File}: {Rows:N0} row(s) valid for loading ({RowsWithErrors:N0} will be rejected row by row, {Warnings:N0} warning(s))";
        if (Error is not null)
            return $"{File}: rejected: {Error}";
        if (MissingColumns.Count > 0)
            return $"{File}: rejected: missing column(s) {string.Join(", ", MissingColumns)}";
        var first = Problems.FirstOrDefault(p => p.Severity == "fatal");
        return $"{File}: rejected: {Fatal:N0} fatal problem(s)" + (first is null ? "" : $", the first at line {first.Line}: {Describe(first)}");
    }

    public static string Describe(FileProblem p) =>
        (p.Column is null ? "" : $"column {p.Column}: ") + $"{p.Rule} ({p.Severity}): {p.Message}";
}

/// <summary>
/// The validate step: reads the whole file with its entities' contracts before anything loads.
/// A valid file's rows are written to the stage folder as Parquet, from which the history step loads.
/// </summary>
public static class FileValidation
{
    /// <summary>How many problems a report lists one by one; the rest are only counted.</summary>
    public const int ProblemsListed = 50;

    /// <summary>The stage file of a version: <c>stage/&lt;file type&gt;/000003.parquet</c>.</summary>
    public static string StagePath(MigrationManifest manifest, RegisteredFile file) =>
        Path.GetFullPath(Path.Combine(manifest.Directory, manifest.StageFolder ?? "stage", file.FileType, $"{file.Id:D6}.parquet"));

    /// <summary>The manifest narrowed to the entities a file type loads.</summary>
    public static MigrationManifest ForFileType(MigrationManifest manifest, FileTypeSpec type) =>
        manifest with { Entities = manifest.Entities.Where(e => type.Entities.Contains(e.Name)).ToList() };

    /// <summary>
    /// <c>ferry check</c> of a manifest with <c>landing</c>: each file type's entities are bound and
    /// compiled against the columns of the newest file of that type in the landing folder, or, with
    /// none there, against the columns the type requires and those its rules and mappings read.
    /// </summary>
    public static async Task<IReadOnlyList<EntityPlan>> CheckAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        var landing = manifest.Landing!;
        var folder = Path.GetFullPath(Path.Combine(manifest.Directory, landing.Folder));
        var plans = new List<EntityPlan>();
        foreach (var type in landing.Files)
        {
            var scoped = ForFileType(manifest, type);
            var newest = Directory.Exists(folder)
                ? new DirectoryInfo(folder).EnumerateFiles(type.Pattern, new EnumerationOptions { MatchCasing = MatchCasing.CaseInsensitive })
                    .Where(f => !f.Name.StartsWith("~$", StringComparison.Ordinal) && !f.Name.StartsWith('.'))
                    .OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()
                : null;
            IReadOnlyList<string> columns;
            string origin;
            if (newest is not null)
            {
                await using var source = await OpenAsync(newest.FullName, type.Source, cancellationToken).ConfigureAwait(false);
                columns = source.Columns;
                origin = source.Origin;
            }
            else
            {
                columns = type.Columns
                    .Concat(scoped.Entities.SelectMany(e => e.Rules.Select(r => r.Column).Concat(e.Columns.Select(c => c.From))).OfType<string>())
                    .Distinct(StringComparer.Ordinal).ToList();
                origin = $"file type {type.Name}";
            }
            plans.AddRange(EntityPlan.Build(scoped, scoped.Entities.ToDictionary(e => e.Name, _ => new SourceShape(columns, origin))));
        }
        return plans;
    }

    public static FileTypeSpec FileType(MigrationManifest manifest, RegisteredFile file) =>
        manifest.Landing?.Files.FirstOrDefault(t => t.Name == file.FileType)
        ?? throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0,
            $"version {file.Id} ({file.Name}) is of file type '{file.FileType}', which the manifest no longer has")]);

    public static async Task<ValidationReport> ValidateAsync(MigrationManifest manifest, RegisteredFile file, CancellationToken cancellationToken)
    {
        var type = FileType(manifest, file);
        var path = Path.GetFullPath(Path.Combine(manifest.Directory, file.Path));
        var scoped = ForFileType(manifest, type);
        // The version is the content registered, not whatever the path holds now.
        if (File.Exists(path) && await Ingest.Sha256Async(path, cancellationToken).ConfigureAwait(false) is var now && now != file.Sha256)
            return Rejection(file, error: $"{file.Name} changed after it was registered as version {file.Id} (SHA-256 {file.Sha256[..12]}…, now {now[..12]}…): " +
                "this version is not loaded; ingest registers the new content as a version of its own");
        ISourceReader source;
        try
        {
            source = await OpenAsync(path, type.Source, cancellationToken).ConfigureAwait(false);
        }
        catch (SourceException ex) when (File.Exists(path))
        {
            return Rejection(file, error: ex.Message);
        }
        await using (source.ConfigureAwait(false))
        {
            var columns = source.Columns;
            // The columns the file type requires, and those the entities' rules and mappings read.
            var needed = type.Columns
                .Concat(scoped.Entities.SelectMany(e => e.Rules.Select(r => r.Column).Concat(e.Columns.Select(c => c.From))).OfType<string>())
                .Distinct().ToList();
            var missing = needed.Where(c => !columns.Contains(c, StringComparer.Ordinal)).ToList();
            if (missing.Count > 0)
                return Rejection(file, missing: missing);
            var plans = EntityPlan.Build(scoped, scoped.Entities.ToDictionary(e => e.Name, _ => new SourceShape(columns, source.Origin)));

            var problems = new List<FileProblem>();
            var byRule = new SortedDictionary<string, long>(StringComparer.Ordinal);
            long rows = 0, fatal = 0, withErrors = 0, warnings = 0;
            void Note(FileProblem problem)
            {
                byRule[problem.Rule] = byRule.GetValueOrDefault(problem.Rule) + 1;
                if (problems.Count < ProblemsListed)
                    problems.Add(problem);
            }

            var stagePath = StagePath(manifest, file);
            var stage = await StageWriter.CreateAsync(stagePath, columns, cancellationToken).ConfigureAwait(false);
            await using (stage.ConfigureAwait(false))
            {
                // Three tasks, as a run has: one reads the file, this one checks the rows, one writes the stage.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var read = Channel.CreateBounded<List<SourceRow>>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
                var staged = Channel.CreateBounded<List<SourceRow>>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
                var reading = Task.Run(() => ReadChunksAsync(source, read.Writer, stop.Token), stop.Token);
                var staging = Task.Run(async () =>
                {
                    try
                    {
                        await foreach (var chunk in staged.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
                            foreach (var row in chunk)
                                await stage.AddAsync(row, stop.Token).ConfigureAwait(false);
                    }
                    catch
                    {
                        await stop.CancelAsync().ConfigureAwait(false); // the checking waits on this task's channel
                        throw;
                    }
                }, stop.Token);
                var issues = new List<ValidationIssue>();
                try
                {
                    await foreach (var chunk in read.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
                    {
                        foreach (var row in chunk)
                        {
                            rows++;
                            if (row.Problem is { } malformed)
                            {
                                withErrors++;
                                Note(new FileProblem(row.Line, malformed.Column, malformed.Rule, "error", null, malformed.Message));
                                continue;
                            }
                            var rowRejected = false;
                            foreach (var plan in plans)
                            {
                                issues.Clear();
                                plan.Validator.Validate(row.Values, row.Line, issues);
                                if (!issues.Exists(i => i.RejectsRow))
                                {
                                    var mapped = new object?[plan.Mapper.Columns.Count];
                                    if (plan.Mapper.Map(row.Values, mapped, issues) is not null && !issues.Exists(i => i.RejectsRow))
                                        plan.Validator.Accept(row.Values, row.Line);
                                }
                                foreach (var issue in issues)
                                {
                                    if (issue.Severity == Severity.Fatal)
                                        fatal++;
                                    else if (!issue.RejectsRow)
                                        warnings++;
                                    // Row errors are counted; fatal problems and the first errors are listed.
                                    if (issue.Severity >= Severity.Error)
                                        Note(new FileProblem(row.Line, issue.Column, issue.Rule, issue.Severity.ToString().ToLowerInvariant(),
                                            plan.Spec.Name, SecretMasker.Scrub(issue.Message)));
                                }
                                rowRejected |= issues.Exists(i => i.RejectsRow);
                            }
                            if (rowRejected)
                                withErrors++;
                        }
                        await staged.Writer.WriteAsync(chunk, stop.Token).ConfigureAwait(false);
                    }
                    staged.Writer.Complete();
                    await Task.WhenAll(reading, staging).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    staged.Writer.TryComplete();
                    await stop.CancelAsync().ConfigureAwait(false);
                    try
                    {
                        await Task.WhenAll(reading, staging).ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // Reported below: the failure that stopped the others, not the cancellations it caused.
                    }
                    var cause = ex is OperationCanceledException && !cancellationToken.IsCancellationRequested
                        ? staging.Exception?.InnerException ?? reading.Exception?.InnerException ?? ex
                        : ex;
                    if (cause is SourceException unreadable)
                        return Rejection(file, error: unreadable.Message, rows: rows);
                    ExceptionDispatchInfo.Throw(cause);
                    throw;
                }
                if (fatal > 0)
                {
                    // Fatal problems first, so that the report names what stopped the file.
                    var ordered = problems.OrderByDescending(p => p.Severity == "fatal").ThenBy(p => p.Line).ToList();
                    return new ValidationReport(file.Name, true, rows, fatal, withErrors, warnings, [], ordered, byRule, null, null);
                }
                await stage.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }
            return new ValidationReport(file.Name, false, rows, 0, withErrors, warnings, [], problems, byRule, null,
                Path.GetRelativePath(manifest.Directory, stagePath));
        }
    }

    /// <summary>The file's rows in chunks, so that reading the next rows overlaps checking these.</summary>
    private static async Task ReadChunksAsync(ISourceReader source, ChannelWriter<List<SourceRow>> chunks, CancellationToken cancellationToken)
    {
        const int ChunkRows = 2_000;
        var chunk = new List<SourceRow>(ChunkRows);
        try
        {
            while (await source.ReadAsync(cancellationToken).ConfigureAwait(false) is { } row)
            {
                chunk.Add(row);
                if (chunk.Count == ChunkRows)
                {
                    await chunks.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    chunk = new List<SourceRow>(ChunkRows);
                }
            }
            if (chunk.Count > 0)
                await chunks.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            chunks.Complete();
        }
        catch (Exception ex)
        {
            // The rows read before the file broke are checked and counted, as they come, before the error.
            if (chunk.Count > 0 && ex is not OperationCanceledException)
                await chunks.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            chunks.TryComplete(ex);
            throw;
        }
    }

    private static ValidationReport Rejection(RegisteredFile file, string? error = null, IReadOnlyList<string>? missing = null, long rows = 0) =>
        new(file.Name, true, rows, 0, 0, 0, missing ?? [], [], new Dictionary<string, long>(), error is null ? null : SecretMasker.Scrub(error), null);

    /// <summary>Opens a landed file with its file type's source settings.</summary>
    internal static async Task<ISourceReader> OpenAsync(string path, SourceSpec spec, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            throw new SourceException(Path.GetFileName(path), 0, "file", $"the landed file {path} is gone: put it back in the landing folder, or it cannot be validated");
        var withPath = spec with { Path = path };
        return spec.Kind switch
        {
            SourceKind.Csv => await CsvSourceReader.OpenAsync(path, withPath, cancellationToken).ConfigureAwait(false),
            SourceKind.Parquet => await ParquetSourceReader.OpenAsync(path, cancellationToken).ConfigureAwait(false),
            _ => await XlsxSourceReader.OpenAsync(path, withPath, cancellationToken).ConfigureAwait(false),
        };
    }
}
