namespace Ferry.Manifest;

/// <summary>
/// The landing folder of a file-fed pipeline: the files that arrive there, by type. Each file is
/// registered by its SHA-256, validated against its entities' contracts, kept as Parquet in the
/// stage folder and loaded into the history layer, oldest first.
/// </summary>
/// <param name="Folder">The folder scanned for files, relative to the manifest.</param>
public sealed record LandingSpec(string Folder, IReadOnlyList<FileTypeSpec> Files, int Line);

/// <summary>How the files of a type are put in order: by the date in their name, or by modification time.</summary>
public enum FileOrder { NameDate, Mtime }

/// <summary>One kind of file in the landing folder.</summary>
/// <param name="Name">The file type, as the registry and the stage folder name it.</param>
/// <param name="Pattern">A glob over file names in the landing folder (<c>*</c> and <c>?</c>).</param>
/// <param name="Source">How each file is read: a file source without a path.</param>
/// <param name="Entities">The entities each file loads, in the manifest's order.</param>
/// <param name="Columns">Columns every file must have; a missing one rejects the file.</param>
public sealed record FileTypeSpec(
    string Name,
    string Pattern,
    FileOrder Order,
    SourceSpec Source,
    IReadOnlyList<string> Entities,
    IReadOnlyList<string> Columns,
    int Line);
