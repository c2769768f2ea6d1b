using Ferry.Manifest;
using Ferry.Sources.Database;

namespace Ferry.Sources;

/// <summary>The columns an entity's source has, and how messages name that source.</summary>
public sealed record SourceShape(IReadOnlyList<string> Columns, string Origin);

public static class SourceReaders
{
    /// <summary>
    /// Opens what <paramref name="entity"/> reads: the table or query its <c>from</c> names in a
    /// database source, or the manifest's file (which every entity shares), or
    /// <paramref name="overridePath"/> in its place.
    /// </summary>
    public static async Task<ISourceReader> OpenAsync(MigrationManifest manifest, EntitySpec entity, string? overridePath, CancellationToken cancellationToken) =>
        manifest.Source.IsDatabase && overridePath is null
            ? await DatabaseSourceReader.OpenAsync(manifest, entity, cancellationToken).ConfigureAwait(false)
            : await OpenAsync(manifest, overridePath, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Each entity's source columns, for binding its rules and mappings. A file is opened once for
    /// all; a database once per entity, which also proves the connection and every table and query.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, SourceShape>> ShapesAsync(MigrationManifest manifest, string? overridePath, CancellationToken cancellationToken)
    {
        var shapes = new Dictionary<string, SourceShape>(StringComparer.Ordinal);
        if (manifest.Source.IsDatabase && overridePath is null)
        {
            foreach (var entity in manifest.Entities)
                await using (var source = await DatabaseSourceReader.OpenAsync(manifest, entity, cancellationToken).ConfigureAwait(false))
                    shapes[entity.Name] = new SourceShape(source.Columns, source.Origin);
            return shapes;
        }
        await using (var file = await OpenAsync(manifest, overridePath, cancellationToken).ConfigureAwait(false))
            foreach (var entity in manifest.Entities)
                shapes[entity.Name] = new SourceShape(file.Columns, file.Origin);
        return shapes;
    }

    /// <summary>
    /// Opens the manifest's source file, or <paramref name="overridePath"/> in its place (a corrected
    /// rejects file, say). A path ending in .csv is read as UTF-8, comma-separated CSV with a header,
    /// the format <c>ferry rejects export</c> writes.
    /// </summary>
    public static async Task<ISourceReader> OpenAsync(MigrationManifest manifest, string? overridePath, CancellationToken cancellationToken)
    {
        var spec = manifest.Source;
        var relative = overridePath ?? spec.Path
            ?? throw (spec.IsDatabase
                ? new InvalidOperationException($"a {spec.Describe()} is read per entity, not as one file")
                : new SourceException("manifest", 0, "source", "the manifest has no source file: its files come through 'landing' (run 'ferry pipeline run')"));
        var path = Path.GetFullPath(Path.Combine(manifest.Directory, relative));
        if (overridePath is not null)
        {
            var kind = Path.GetExtension(path).ToLowerInvariant() switch
            {
                ".xlsx" => SourceKind.Xlsx,
                ".csv" => SourceKind.Csv,
                ".parquet" => SourceKind.Parquet,
                _ when spec.IsDatabase => throw new SourceException(Path.GetFileName(path), 0, "file",
                    "a file read in place of a database source must be .csv, .xlsx or .parquet"),
                _ => spec.Kind,
            };
            if (kind != spec.Kind || kind == SourceKind.Csv && Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase))
                spec = spec with { Kind = kind, Delimiter = ',', Quote = '"', Header = true, Columns = null, Encoding = "utf-8", Sheet = null };
        }
        return spec.Kind switch
        {
            SourceKind.Csv => await CsvSourceReader.OpenAsync(path, spec, cancellationToken).ConfigureAwait(false),
            SourceKind.Parquet => await ParquetSourceReader.OpenAsync(path, cancellationToken).ConfigureAwait(false),
            _ => await XlsxSourceReader.OpenAsync(path, spec, cancellationToken).ConfigureAwait(false),
        };
    }
}
