using Ferry.Cli;

return await FerryCommandLine.RunAsync(args, CliConsole.FromProcess(), ownsProcess: true);
