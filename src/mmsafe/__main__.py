from mmsafe.cli import main

main()
