# call 'index.gp' NAME 'A B C': defines NAME(s), the position (0, 1, ...)
# of s in the list, or NaN, so rows can be placed by their value whatever
# order the sweep's points ended in.
_def = ARG1.'(s) = '
do for [_i = 1:words(ARG2)] { _def = _def.sprintf("s eq '%s' ? %d : ", word(ARG2, _i), _i - 1) }
eval(_def.'NaN')
