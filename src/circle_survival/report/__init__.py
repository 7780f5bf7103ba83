"""What a reader sees: the reproduction report (HTML and Markdown) and the interactive explorer.

- :mod:`.wording`        short phrases the report, the experiments and the commands share;
- :mod:`.number_tables`  numbers and tables of a result as text;
- :mod:`.provenance`     where a result comes from (versions, commit, device, command);
- :mod:`.page`           :func:`write_report`: every result of one or more stores, one page;
- :mod:`.explorer`       :func:`write_explorer`: one HTML page to explore a store's runs.
"""
