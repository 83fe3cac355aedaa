from mmsafe.cli import main

if __name__ == "__main__":  # a spawned judge process imports this module too (as __mp_main__): it must not run
    main()
