"""hopfield-layers' auxiliary modules (``hflayers.auxiliary``): the bit-pattern data set."""
