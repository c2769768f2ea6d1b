using Ferry.Manifest;

namespace Ferry.Sources;

public static class SourceReaders
{
    /// <summary>
    /// Opens the manifest's source, or <paramref name="overridePath"/> in its place (a corrected
    /// rejects file, say). A path ending in .csv is read as UTF-8, comma-separated CSV with a header,
    /// the format <c>ferry rejects export</c> writes.
    /// </summary>
    public static async Task<ISourceReader> OpenAsync(MigrationManifest manifest, string? overridePath, CancellationToken cancellationToken)
    {
        var spec = manifest.Source;
        var path = Path.GetFullPath(Path.Combine(manifest.Directory, overridePath ?? spec.Path));
        if (overridePath is not null)
        {
            var kind = Path.GetExtension(path).ToLowerInvariant() switch
            {
                ".xlsx" => SourceKind.Xlsx,
                ".csv" => SourceKind.Csv,
                _ => spec.Kind,
            };
            if (kind != spec.Kind || kind == SourceKind.Csv && Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase))
                spec = spec with { Kind = kind, Delimiter = ',', Quote = '"', Header = true, Columns = null, Encoding = "utf-8", Sheet = null };
        }
        return spec.Kind switch
        {
            SourceKind.Csv => await CsvSourceReader.OpenAsync(path, spec, cancellationToken).ConfigureAwait(false),
            _ => await XlsxSourceReader.OpenAsync(path, spec, cancellationToken).ConfigureAwait(false),
        };
    }
}
